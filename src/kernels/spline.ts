/**
 * Element-wise monotone rational-quadratic splines with identity tails (the transform of
 * neural-spline coupling flows): forward with log|det|, inverse, and backward.
 *
 * @module
 */
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { expectSize, grid1d } from "./_util.ts";
import { SPLINE } from "./specs.ts";

function dispatch(entry: string, bins: number, n: number, b: (Tensor | null)[]): void {
  const gpu = b.find((t) => t)!.gpu;
  gpu.dispatch(SPLINE, entry, {
    uniforms: new Uniforms().u32(n).u32(bins),
    bindings: b,
    workgroups: grid1d(n),
  });
}

/**
 * y = spline(x) and log|dy/dx| per element; knots (n, 3 (K + 1)) = [xk | yk | dk].
 *
 * @example
 * ```ts ignore
 * const { y, logdet } = splineForward(x, knots, 8);
 * ```
 */
export function splineForward(
  x: Tensor,
  knots: Tensor,
  bins: number,
): { y: Tensor; logdet: Tensor } {
  expectSize("splineForward", "knots", knots, x.size * 3 * (bins + 1));
  const y = x.gpu.empty(x.shape), logdet = x.gpu.empty(x.shape);
  dispatch("spline_fwd", bins, x.size, [x, knots, null, null, y, logdet, null]);
  return { y, logdet };
}

/**
 * x = spline⁻¹(y) and log|dx/dy| per element (sampling direction).
 *
 * @example
 * ```ts ignore
 * const { x, logdet } = splineInverse(y, knots, 8);
 * ```
 */
export function splineInverse(
  y: Tensor,
  knots: Tensor,
  bins: number,
): { x: Tensor; logdet: Tensor } {
  expectSize("splineInverse", "knots", knots, y.size * 3 * (bins + 1));
  const x = y.gpu.empty(y.shape), logdet = y.gpu.empty(y.shape);
  dispatch("spline_inv", bins, y.size, [y, knots, null, null, x, logdet, null]);
  return { x, logdet };
}

/**
 * Gradients of `sum(gy * y + gld * log|det|)` with respect to x and the knots.
 *
 * @example
 * ```ts ignore
 * const { dx, dknots } = splineBackward(x, knots, 8, gy, gld);
 * ```
 */
export function splineBackward(
  x: Tensor,
  knots: Tensor,
  bins: number,
  gy: Tensor,
  gld: Tensor,
): { dx: Tensor; dknots: Tensor } {
  const dx = x.gpu.empty(x.shape), dknots = x.gpu.empty(knots.shape);
  dispatch("spline_bwd", bins, x.size, [x, knots, gy, gld, dx, null, dknots]);
  return { dx, dknots };
}
