/**
 * Differentiable operations: each runs forward kernels now and records its backward on the
 * tape. Shapes follow PyTorch conventions (Linear weight is (out, in)); masks are u32 with
 * 1 = real particle.
 *
 * @module
 */
import { ShapeError } from "../gpu/errors.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { attentionBackward, attentionForward } from "../kernels/attention.ts";
import * as E from "../kernels/elementwise.ts";
import { layerNormBackward, layerNormForward } from "../kernels/layernorm.ts";
import {
  crossEntropyBackward,
  crossEntropyForward,
  type CrossEntropyOptions,
  type PointwiseLoss,
  pointwiseLossBackward,
  pointwiseLossForward,
  type PointwiseLossOptions,
} from "../kernels/losses.ts";
import { matmul } from "../kernels/matmul.ts";
import { gatedResidualForward, modulateBackward, modulateForward } from "../kernels/modulate.ts";
import * as M from "../kernels/movement.ts";
import { colSum, sumAll } from "../kernels/reduce.ts";
import {
  splineBackward,
  splineForward,
  splineKnots,
  splineKnotsBackward,
  type SplineShape,
} from "../kernels/spline.ts";
import { type RandomKey, randomUniform } from "../kernels/random.ts";
import type { Tape } from "./tape.ts";

const last = (t: Tensor) => t.shape[t.shape.length - 1];

/**
 * Views `x` with a new shape; the gradient flows back to `x`.
 *
 * @example
 * ```ts ignore
 * const flat = reshape(tape, x, [B * N, C]);
 * ```
 */
export function reshape(tape: Tape, x: Tensor, shape: readonly number[]): Tensor {
  const y = x.reshape(shape);
  tape.record([x], [y], ([g]) => tape.addGradShared(x, g!.reshape(x.shape)));
  return y;
}

/**
 * Linear layer `y = x wᵀ + b` over the last axis: x (..., in), w (out, in), b (out).
 *
 * @example
 * ```ts ignore
 * const y = linear(tape, x, tape.param(w), tape.param(b));
 * ```
 */
export function linear(tape: Tape, x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const [out, inp] = [w.shape[0], w.shape[1]];
  if (last(x) !== inp) {
    throw new ShapeError(`linear: input [${x.shape}] last axis != weight in ${inp} [${w.shape}]`);
  }
  const rows = x.size / inp;
  const y = matmul(x.reshape([rows, inp]), w, { transB: true, bias: b }).into([
    ...x.shape.slice(0, -1),
    out,
  ]);
  tape.record(b ? [x, w, b] : [x, w], [y], ([g]) => {
    const gy = g!.reshape([rows, out]);
    if (tape.requiresGrad(x)) tape.addGrad(x, matmul(gy, w).into(x.shape));
    if (tape.requiresGrad(w)) {
      const pg = tape.paramGrad(w);
      if (pg) matmul(gy, x.reshape([rows, inp]), { transA: true, out: pg, accumulate: true });
      else tape.addGrad(w, matmul(gy, x.reshape([rows, inp]), { transA: true }));
    }
    if (b && tape.requiresGrad(b)) {
      const pg = tape.paramGrad(b);
      if (pg) colSum(gy, rows, out, { out: pg, accumulate: true });
      else tape.addGrad(b, colSum(gy, rows, out));
    }
  });
  return y;
}

/**
 * LayerNorm over the last axis (affine, eps 1e-5).
 *
 * @example
 * ```ts ignore
 * const h = layerNorm(tape, x, tape.param(gamma), tape.param(beta));
 * ```
 */
export function layerNorm(tape: Tape, x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  const saved = layerNormForward(x, gamma, beta, eps);
  tape.keep(saved.mean);
  tape.keep(saved.rstd);
  tape.record([x, gamma, beta], [saved.y], ([g]) => {
    const { dx, dgamma, dbeta } = layerNormBackward(x, gamma, saved, g!);
    tape.addGrad(x, dx);
    tape.addGrad(gamma, dgamma);
    tape.addGrad(beta, dbeta);
  });
  return saved.y;
}

/**
 * `alpha * a + beta * b` (same shapes).
 *
 * @example
 * ```ts ignore
 * const h = add(tape, x, y);
 * ```
 */
export function add(tape: Tape, a: Tensor, b: Tensor, alpha = 1, beta = 1): Tensor {
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
 * Multi-head self-attention over a fused qkv tensor (B, N, 3d) with key validity (B, N) u32.
 * Returns (B, N, d).
 *
 * @example
 * ```ts ignore
 * const o = selfAttention(tape, qkv, valid, 4);
 * ```
 */
export function selfAttention(
  tape: Tape,
  qkv: Tensor,
  valid: Tensor | undefined,
  heads: number,
): Tensor {
  const [batch, n, d3] = qkv.shape as [number, number, number];
  const d = d3 / 3;
  const args = {
    q: { tensor: qkv, stride: d3, offset: 0 },
    k: { tensor: qkv, stride: d3, offset: d },
    v: { tensor: qkv, stride: d3, offset: 2 * d },
    valid,
    batch,
    nq: n,
    nk: n,
    heads,
    headDim: d / heads,
  };
  const saved = attentionForward(args);
  tape.keep(saved.lse);
  tape.record([qkv], [saved.out], ([g]) => {
    const dqkv = tape.gpu.empty(qkv.shape);
    attentionBackward(args, saved, g!, {
      dq: { tensor: dqkv, stride: d3, offset: 0 },
      dkv: { tensor: dqkv, stride: d3, kOffset: d, vOffset: 2 * d },
    });
    tape.addGrad(qkv, dqkv);
  });
  return saved.out;
}

/**
 * Multi-head cross-attention: queries q (B, Nq, d) attend to a fused kv (B, Nk, 2d) with key
 * validity (B, Nk). Nq = 1 is class attention. Returns (B, Nq, d).
 *
 * @example
 * ```ts ignore
 * const o = crossAttention(tape, q, kv, validKeys, 4);
 * ```
 */
export function crossAttention(
  tape: Tape,
  q: Tensor,
  kv: Tensor,
  valid: Tensor | undefined,
  heads: number,
): Tensor {
  const [batch, nq, d] = q.shape as [number, number, number];
  const nk = kv.shape[1];
  if (kv.shape[2] !== 2 * d) {
    throw new ShapeError(`crossAttention: kv [${kv.shape}] must be (B, Nk, ${2 * d})`);
  }
  const args = {
    q: { tensor: q, stride: d, offset: 0 },
    k: { tensor: kv, stride: 2 * d, offset: 0 },
    v: { tensor: kv, stride: 2 * d, offset: d },
    valid,
    batch,
    nq,
    nk,
    heads,
    headDim: d / heads,
  };
  const saved = attentionForward(args);
  tape.keep(saved.lse);
  tape.record([q, kv], [saved.out], ([g]) => {
    const dq = tape.gpu.empty(q.shape), dkv = tape.gpu.empty(kv.shape);
    attentionBackward(args, saved, g!, {
      dq: { tensor: dq, stride: d, offset: 0 },
      dkv: { tensor: dkv, stride: 2 * d, kOffset: 0, vOffset: d },
    });
    tape.addGrad(q, dq);
    tape.addGrad(kv, dkv);
  });
  return saved.out;
}

/**
 * Embedding lookup: table (V, C), ids (...) i32 -> (..., C).
 *
 * @example
 * ```ts ignore
 * const e = embedding(tape, tape.param(typeTable), ids);
 * ```
 */
export function embedding(tape: Tape, table: Tensor, ids: Tensor): Tensor {
  const y = M.embeddingForward(table, ids);
  tape.record(
    [table],
    [y],
    ([g]) => tape.addGrad(table, M.embeddingBackward(g!, ids, table.shape[0])),
  );
  return y;
}

/**
 * Gathers rows of `src` (rows = all but the last axis) by `index` (-1 gives zeros). The map
 * must be injective; `inverse` (index of each source row in the output, -1 if absent, as
 * produced by `maskScan`) is its backward.
 *
 * @example Drop particles before an encoder, then put the outputs back
 * ```ts ignore
 * const scan = maskScan(kept, B, N, nKept);
 * const compact = gatherRows(tape, x, scan.fwd, scan.inv, [B, nKept, C]);
 * const back = gatherRows(tape, encoded, scan.inv, scan.fwd, [B, N, C]);
 * ```
 */
export function gatherRows(
  tape: Tape,
  src: Tensor,
  index: Tensor,
  inverse: Tensor,
  outShape: readonly number[],
): Tensor {
  const c = last(src);
  const y = M.gatherRows(src.reshape([src.size / c, c]), index).into(outShape);
  tape.record([src], [y], ([g]) => {
    const gs = M.gatherRows(g!.reshape([index.size, c]), inverse);
    tape.addGrad(src, gs.into(src.shape));
  });
  return y;
}

/**
 * Concatenates along the last axis.
 *
 * @example
 * ```ts ignore
 * const h = concat(tape, [xt, timeEmb, ctx]);
 * ```
 */
export function concat(tape: Tape, parts: readonly Tensor[]): Tensor {
  const y = M.concatLast(parts);
  const widths = parts.map(last);
  tape.record(parts, [y], ([g]) => {
    const grads = M.splitLast(g!, widths);
    parts.forEach((p, i) => tape.addGrad(p, grads[i]));
  });
  return y;
}

/**
 * Splits the last axis into parts of the given widths (the inverse of {@linkcode concat}).
 *
 * @example
 * ```ts ignore
 * const [shift, scale, gate] = split(tape, modulation, [D, D, D]);
 * ```
 */
export function split(tape: Tape, x: Tensor, widths: readonly number[]): Tensor[] {
  const parts = M.splitLast(x, widths);
  tape.record([x], parts, (gs) => {
    const full = gs.map((g, i) => g ?? tape.keep(x.gpu.zeros(parts[i].shape)));
    tape.addGrad(x, M.concatLast(full).into(x.shape));
  });
  return parts;
}

/**
 * Masked mean over the set axis: x (B, N, C), mask (B, N) u32 -> (B, C); empty rows give 0.
 *
 * @example
 * ```ts ignore
 * const pooled = maskedMean(tape, h, valid);
 * ```
 */
export function maskedMean(tape: Tape, x: Tensor, mask: Tensor): Tensor {
  const [batch, n] = [x.shape[0], x.shape[1]];
  const count = tape.keep(M.maskCount(mask, batch, n));
  const y = M.maskedSumForward(x, mask, { mean: true, count });
  tape.record(
    [x],
    [y],
    ([g]) => tape.addGrad(x, M.maskedSumBackward(g!, mask, n, { mean: true, count })),
  );
  return y;
}

/**
 * Mean softmax cross-entropy (label smoothing, class weights, row validity); returns (1).
 *
 * @example
 * ```ts ignore
 * const loss = crossEntropy(tape, logits, ids, { labelSmoothing: 0.1, valid: dropped });
 * ```
 */
export function crossEntropy(
  tape: Tape,
  logits: Tensor,
  targets: Tensor,
  options: CrossEntropyOptions = {},
): Tensor {
  const saved = crossEntropyForward(logits, targets, options);
  tape.keep(saved.stats);
  tape.keep(saved.total);
  tape.record(
    [logits],
    [saved.loss],
    ([g]) => tape.addGrad(logits, crossEntropyBackward(logits, targets, saved, g!, options)),
  );
  return saved.loss;
}

/**
 * Mean pointwise loss (L1, MSE, Huber, BCE with logits, sigmoid focal) over valid entries;
 * returns (1).
 *
 * @example
 * ```ts ignore
 * const loss = pointwiseLoss(tape, "l1", pred, target, { valid });
 * ```
 */
export function pointwiseLoss(
  tape: Tape,
  kind: PointwiseLoss,
  pred: Tensor,
  target: Tensor,
  options: PointwiseLossOptions = {},
): Tensor {
  const saved = pointwiseLossForward(kind, pred, target, options);
  tape.keep(saved.stats);
  tape.keep(saved.total);
  tape.record(
    [pred],
    [saved.loss],
    ([g]) => tape.addGrad(pred, pointwiseLossBackward(kind, pred, target, saved, g!, options)),
  );
  return saved.loss;
}

/**
 * Weighted sum of 1-element losses: `sum_i w_i * loss_i`.
 *
 * @example
 * ```ts ignore
 * const total = weightedSum(tape, [[regLoss, 1], [idLoss, 0.3]]);
 * ```
 */
export function weightedSum(tape: Tape, terms: readonly (readonly [Tensor, number])[]): Tensor {
  let acc = E.scale(terms[0][0], terms[0][1]);
  for (const [t, w] of terms.slice(1)) {
    const next = E.axpby(acc, t, { alpha: 1, beta: w });
    acc.dispose();
    acc = next;
  }
  tape.record(terms.map((t) => t[0]), [acc], ([g]) => {
    for (const [t, w] of terms) if (tape.requiresGrad(t)) tape.addGrad(t, E.scale(g!, w));
  });
  return acc;
}

/**
 * General differentiable matmul `op(a) op(b)` (see the `matmul` kernel for shapes); used for
 * one-hot selections such as ordered mask tokens (`onehot (M, T) x table (T, D)`).
 *
 * @example
 * ```ts ignore
 * const rows = matmulOp(tape, onehot, tape.param(maskTokens)); // (M, D)
 * ```
 */
export function matmulOp(
  tape: Tape,
  a: Tensor,
  b: Tensor,
  options: { transA?: boolean; transB?: boolean } = {},
): Tensor {
  const y = matmul(a, b, options);
  tape.record([a, b], [y], ([g]) => {
    // C = op(A) op(B): dop(A) = dC op(B)ᵀ, dop(B) = op(A)ᵀ dC, then undo the transposes.
    if (tape.requiresGrad(a)) {
      tape.addGrad(
        a,
        options.transA
          ? matmul(b, g!, { transA: options.transB, transB: true })
          : matmul(g!, b, { transB: !options.transB }),
      );
    }
    if (tape.requiresGrad(b)) {
      const pg = tape.paramGrad(b);
      const args = options.transB
        ? [g!, a, { transA: true, transB: options.transA }] as const
        : [a, g!, { transA: !options.transA }] as const;
      if (pg) matmul(args[0], args[1], { ...args[2], out: pg, accumulate: true });
      else tape.addGrad(b, matmul(args[0], args[1], args[2]));
    }
  });
  return y;
}

/**
 * Prepends the same R rows (learnable registers) to every set: reg (R, C), x (B, n, C) ->
 * (B, R + n, C).
 *
 * @example
 * ```ts ignore
 * const h = prependRows(tape, tape.param(registers), embedded); // registers first, always valid
 * ```
 */
export function prependRows(tape: Tape, reg: Tensor, x: Tensor): Tensor {
  const [R, C] = [reg.shape[0], reg.shape[1]];
  const [B, n] = [x.shape[0], x.shape[1]];
  if (x.shape[2] !== C) {
    throw new ShapeError(`prependRows: x [${x.shape}] and registers [${reg.shape}] widths differ`);
  }
  const gpu = x.gpu;
  const stacked = tape.keep(gpu.empty([R + B * n, C]));
  gpu.copy(reg, stacked.view([R, C], 0));
  if (B * n > 0) gpu.copy(x.reshape([B * n, C]), stacked.view([B * n, C], R * C));
  const idx = new Int32Array(B * (R + n)), inv = new Int32Array(B * n);
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < R; s++) idx[b * (R + n) + s] = s;
    for (let k = 0; k < n; k++) {
      idx[b * (R + n) + R + k] = R + b * n + k;
      inv[b * n + k] = b * (R + n) + R + k;
    }
  }
  const idxT = tape.keep(gpu.upload(idx)), invT = tape.keep(gpu.upload(inv));
  const y = M.gatherRows(stacked, idxT).into([B, R + n, C]);
  tape.record([reg, x], [y], ([g]) => {
    const g2 = g!.reshape([B * (R + n), C]);
    if (tape.requiresGrad(x)) tape.addGrad(x, M.gatherRows(g2, invT).into(x.shape));
    if (tape.requiresGrad(reg)) {
      const sums = colSum(g!, B, (R + n) * C);
      const dreg = gpu.empty([R, C]);
      gpu.copy(sums.view([R * C], 0), dreg.reshape([R * C]));
      sums.dispose();
      tape.addGrad(reg, dreg);
    }
  });
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
 * Mean of all elements (1 element).
 *
 * @example
 * ```ts ignore
 * const m = meanAll(tape, logdet);
 * ```
 */
export function meanAll(tape: Tape, x: Tensor): Tensor {
  const s = sumAll(x), y = E.scale(s, 1 / x.size);
  s.dispose();
  tape.record([x], [y], ([g]) => {
    const z = x.gpu.zeros([x.size, 1]), sg = E.scale(g!, 1 / x.size);
    const gx = E.addBroadcast(z, sg);
    z.dispose();
    sg.dispose();
    tape.addGrad(x, gx.into(x.shape));
  });
  return y;
}

/**
 * Element-wise monotone rational-quadratic spline (identity tails) with per-element
 * unconstrained parameters `raw` (x.size, 3K - 1): returns y and log|dy/dx|, both shaped as x.
 * Gradients flow to x and raw (see `splineKnots` for the parameterisation).
 *
 * @example
 * ```ts ignore
 * const { y, logdet } = rqSpline(tape, x, raw, { bins: 8, bound: 4 });
 * ```
 */
export function rqSpline(
  tape: Tape,
  x: Tensor,
  raw: Tensor,
  shape: SplineShape,
): { y: Tensor; logdet: Tensor } {
  const P = 3 * shape.bins - 1;
  if (raw.size !== x.size * P) {
    throw new ShapeError(
      `rqSpline: raw [${raw.shape}] must hold ${P} values per element of x [${x.shape}]`,
    );
  }
  const knots = tape.keep(splineKnots(raw, shape));
  const { y, logdet } = splineForward(x, knots, shape.bins);
  tape.record([x, raw], [y, logdet], ([gy, gld]) => {
    const zy = gy ?? tape.keep(x.gpu.zeros(x.shape)), zl = gld ?? tape.keep(x.gpu.zeros(x.shape));
    const { dx, dknots } = splineBackward(x, knots, shape.bins, zy, zl);
    if (tape.requiresGrad(x)) tape.addGrad(x, dx);
    else dx.dispose();
    if (tape.requiresGrad(raw)) tape.addGrad(raw, splineKnotsBackward(raw, dknots, shape));
    dknots.dispose();
  });
  return { y, logdet };
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
