/**
 * Dense ops: reshape views, linear layers, layer norm and general matrix products.
 *
 * @module
 */
import { ShapeError } from "../../gpu/errors.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { layerNormBackward, layerNormForward } from "../../kernels/layernorm.ts";
import { matmul } from "../../kernels/matmul.ts";
import { matmulHalf, toHalf } from "../../kernels/half.ts";
import { colSum } from "../../kernels/reduce.ts";
import { swigluBackward } from "../../kernels/elementwise.ts";
import {
  fusedSwigluApplies,
  linearSwiglu as fusedLinearSwiglu,
} from "../../kernels/linear_swiglu.ts";
import type { Tape } from "../tape.ts";
import { swiglu } from "./pointwise.ts";

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
 * Linear layer `y = x wᵀ + b` over the last axis: x (..., in), w (out, in), b (out). On a device
 * requested with `precision: "f16"` the three products take f16 copies of their operands (made
 * in the step from the f32 input, weight and upstream gradient) and accumulate in f32; the
 * output, the gradients and the weights stay f32.
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
  if (x.gpu.precision === "f16") return linearHalf(tape, x, w, b, rows);
  const y = matmul(x.reshape([rows, inp]), w, { transB: true, bias: b }).into([
    ...x.shape.slice(0, -1),
    out,
  ]);
  tape.record(b ? [x, w, b] : [x, w], [y], ([g]) => {
    linearBackward(tape, x, w, b, g!.reshape([rows, out]));
  });
  return y;
}

/** The gradients of `y = x wᵀ + b` for the upstream gradient `gy` (rows, out). */
function linearBackward(tape: Tape, x: Tensor, w: Tensor, b: Tensor | undefined, gy: Tensor) {
  const [out, inp] = [w.shape[0], w.shape[1]], rows = x.size / inp;
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
}

/**
 * `swiglu(linear(x, w, b))`: x (..., in), w (2H, in), b (2H) -> (..., H). On the storage matmul
 * path (f32) one fused kernel computes the product and the SwiGLU epilogue, writing the
 * pre-activations only when a gradient will need them; elsewhere it is the two ops. Same
 * results either way (bit for bit).
 *
 * @example
 * ```ts ignore
 * const h = linearSwiglu(tape, x, tape.param(w1), tape.param(b1)); // the SwiGLU FF's first half
 * ```
 */
export function linearSwiglu(tape: Tape, x: Tensor, w: Tensor, b?: Tensor): Tensor {
  if (!fusedSwigluApplies(w) || last(x) !== w.shape[1]) return swiglu(tape, linear(tape, x, w, b));
  const inp = w.shape[1], H = w.shape[0] / 2, rows = x.size / inp;
  const grad = tape.requiresGrad(x) || tape.requiresGrad(w) || (!!b && tape.requiresGrad(b));
  const { h, ab } = fusedLinearSwiglu(x.reshape([rows, inp]), w, b, { saveAb: grad });
  const y = h.into([...x.shape.slice(0, -1), H]);
  if (ab) tape.keep(ab);
  tape.record(b ? [x, w, b] : [x, w], [y], ([g]) => {
    const gab = swigluBackward(ab!, g!.reshape([rows, H]));
    linearBackward(tape, x, w, b, gab);
    gab.dispose();
  });
  return y;
}

/** {@linkcode linear} with f16 matmul operands and f32 accumulation. */
function linearHalf(tape: Tape, x: Tensor, w: Tensor, b: Tensor | undefined, rows: number) {
  const [out, inp] = [w.shape[0], w.shape[1]];
  const x16 = tape.keep(toHalf(x.reshape([rows, inp]))), w16 = tape.keep(toHalf(w));
  const y = matmulHalf(x16, w16, { transB: true, bias: b }).into([...x.shape.slice(0, -1), out]);
  tape.record(b ? [x, w, b] : [x, w], [y], ([g]) => {
    const gy = g!.reshape([rows, out]);
    const g16 = toHalf(gy);
    if (tape.requiresGrad(x)) tape.addGrad(x, matmulHalf(g16, w16).into(x.shape));
    if (tape.requiresGrad(w)) {
      const pg = tape.paramGrad(w);
      if (pg) matmulHalf(g16, x16, { transA: true, out: pg, accumulate: true });
      else tape.addGrad(w, matmulHalf(g16, x16, { transA: true }));
    }
    g16.dispose();
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
