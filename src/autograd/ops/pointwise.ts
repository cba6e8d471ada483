/**
 * Pointwise ops: sums, activations (SiLU, GELU, SwiGLU), LayerScale residuals, dropout,
 * |a - b|, per-column scales and row offsets, adaLN modulation and gated residuals.
 *
 * @module
 */
import * as E from "../../kernels/elementwise.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { gatedResidualForward, modulateBackward, modulateForward } from "../../kernels/modulate.ts";
import { colSum } from "../../kernels/reduce.ts";
import { type RandomKey, randomUniform } from "../../kernels/random.ts";
import type { Tape } from "../tape.ts";
import { matchesLastAxis, sameShape } from "./_checks.ts";

const last = (t: Tensor) => t.shape[t.shape.length - 1];

/**
 * `alpha * a + beta * b` (same shapes).
 *
 * @example
 * ```ts ignore
 * const h = add(tape, x, y);
 * ```
 */
export function add(tape: Tape, a: Tensor, b: Tensor, alpha = 1, beta = 1): Tensor {
  sameShape("add", a, b);
  const y = E.axpby(a, b, { alpha, beta });
  tape.record([a, b], [y], ([g]) => {
    if (tape.requiresGrad(a)) tape.addGrad(a, E.scale(g!, alpha));
    if (tape.requiresGrad(b)) tape.addGrad(b, E.scale(g!, beta));
  });
  return y;
}

/**
 * Residual with LayerScale: `x + f * gamma` (gamma per channel).
 *
 * @example
 * ```ts ignore
 * x = residualScale(tape, x, attnOut, tape.param(gamma));
 * ```
 */
export function residualScale(tape: Tape, x: Tensor, f: Tensor, gamma: Tensor): Tensor {
  sameShape("residualScale", x, f, ["x", "f"]);
  matchesLastAxis("residualScale", x, gamma, "gamma");
  const y = E.residualScale(x, f, gamma);
  const c = last(x), rows = x.size / c;
  tape.record([x, f, gamma], [y], ([g]) => {
    tape.addGradShared(x, g!);
    if (tape.requiresGrad(f)) tape.addGrad(f, E.mulBroadcast(g!, gamma));
    if (tape.requiresGrad(gamma)) {
      const pg = tape.paramGrad(gamma);
      if (pg) colSum(g!, rows, c, { product: f, out: pg, accumulate: true });
      else tape.addGrad(gamma, colSum(g!, rows, c, { product: f }));
    }
  });
  return y;
}

/**
 * SiLU activation.
 *
 * @example
 * ```ts ignore
 * const h = silu(tape, x);
 * ```
 */
export function silu(tape: Tape, x: Tensor): Tensor {
  const y = E.siluForward(x);
  tape.record([x], [y], ([g]) => tape.addGrad(x, E.siluBackward(x, g!)));
  return y;
}

/**
 * Exact (erf) GELU activation.
 *
 * @example
 * ```ts ignore
 * const h = gelu(tape, x);
 * ```
 */
export function gelu(tape: Tape, x: Tensor): Tensor {
  const y = E.geluForward(x);
  tape.record([x], [y], ([g]) => tape.addGrad(x, E.geluBackward(x, g!)));
  return y;
}

/**
 * SwiGLU: (..., 2H) -> (..., H) = silu(first half) * second half.
 *
 * @example
 * ```ts ignore
 * const h = swiglu(tape, linear(tape, x, w1, b1));
 * ```
 */
export function swiglu(tape: Tape, x: Tensor): Tensor {
  const y = E.swigluForward(x);
  tape.record([x], [y], ([g]) => tape.addGrad(x, E.swigluBackward(x, g!)));
  return y;
}

/**
 * Dropout (training only): zeroes each element with probability `p` and scales the rest by
 * 1 / (1 - p), from a counter-based draw (seed, stream, offset), so runs are reproducible.
 *
 * @example
 * ```ts ignore
 * const h = dropout(tape, x, 0.2, { seed, stream: 7, offset: step * x.size });
 * ```
 */
export function dropout(tape: Tape, x: Tensor, p: number, key: RandomKey): Tensor {
  if (p <= 0) return x;
  const u = tape.keep(randomUniform(x.gpu, x.shape, key));
  const y = E.dropoutApply(x, u, p);
  tape.record([x], [y], ([g]) => tape.addGrad(x, E.dropoutApply(g!, u, p)));
  return y;
}

/**
 * Elementwise `|a - b|` (the vertex head's pair features).
 *
 * @example
 * ```ts ignore
 * const d = absDiff(tape, fi, fj);
 * ```
 */
export function absDiff(tape: Tape, a: Tensor, b: Tensor): Tensor {
  sameShape("absDiff", a, b);
  const y = E.absDiffForward(a, b);
  tape.record([a, b], [y], ([g]) => {
    if (tape.requiresGrad(a)) tape.addGrad(a, E.absDiffBackward(a, b, g!, 1));
    if (tape.requiresGrad(b)) tape.addGrad(b, E.absDiffBackward(a, b, g!, -1));
  });
  return y;
}

/**
 * `x * v` with a constant `v` broadcast along the last axis (a column mask); no gradient to `v`.
 *
 * @example
 * ```ts ignore
 * const passThrough = scaleColumns(tape, x, tape.keep(gpu.upload(mask))); // mask (C)
 * ```
 */
export function scaleColumns(tape: Tape, x: Tensor, v: Tensor): Tensor {
  matchesLastAxis("scaleColumns", x, v, "v");
  const y = E.mulBroadcast(x, v);
  tape.record([x], [y], ([g]) => tape.addGrad(x, E.mulBroadcast(g!, v)));
  return y;
}

/**
 * `x + v` with `v` broadcast along the last axis (a learned bias row).
 *
 * @example
 * ```ts ignore
 * const y = addRow(tape, x, tape.param(bias)); // x (R, C), bias (C)
 * ```
 */
export function addRow(tape: Tape, x: Tensor, v: Tensor): Tensor {
  matchesLastAxis("addRow", x, v, "v");
  const y = E.addBroadcast(x, v);
  const cols = v.size, rows = x.size / cols;
  tape.record([x, v], [y], ([g]) => {
    if (tape.requiresGrad(x)) tape.addGradShared(x, g!);
    if (tape.requiresGrad(v)) {
      const pg = tape.paramGrad(v);
      if (pg) colSum(g!, rows, cols, { out: pg, accumulate: true });
      else tape.addGrad(v, colSum(g!, rows, cols).into(v.shape));
    }
  });
  return y;
}

/**
 * Adaptive-LayerNorm modulation `x * (1 + scale[b]) + shift[b]`: x (B, N, D); scale and shift
 * (B, D), one per set, shared by its N elements.
 *
 * @example
 * ```ts ignore
 * const h = modulate(tape, normed, scale, shift); // scale, shift from a time embedding
 * ```
 */
export function modulate(tape: Tape, x: Tensor, scale: Tensor, shift: Tensor): Tensor {
  const y = modulateForward(x, scale, shift);
  tape.record([x, scale, shift], [y], ([g]) => {
    const { dx, ds, dt } = modulateBackward(x, scale, g!, 1);
    tape.addGrad(x, dx);
    tape.addGrad(scale, ds.into(scale.shape));
    tape.addGrad(shift, dt.into(shift.shape));
  });
  return y;
}

/**
 * Gated residual `res + gate[b] * x`: res and x (B, N, D), gate (B, D).
 *
 * @example
 * ```ts ignore
 * h = gatedResidual(tape, h, attnOut, gate);
 * ```
 */
export function gatedResidual(tape: Tape, res: Tensor, x: Tensor, gate: Tensor): Tensor {
  const y = gatedResidualForward(res, x, gate);
  tape.record([res, x, gate], [y], ([g]) => {
    if (tape.requiresGrad(res)) tape.addGradShared(res, g!);
    const { dx, ds, dt } = modulateBackward(x, gate, g!, 0);
    dt.dispose();
    tape.addGrad(x, dx);
    tape.addGrad(gate, ds.into(gate.shape));
  });
  return y;
}
