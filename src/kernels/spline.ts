/**
 * Element-wise monotone rational-quadratic splines with identity tails (the transform of
 * neural-spline coupling flows): forward with log|det|, inverse, and backward. Above the storage
 * binding limit every kernel runs on chunks of whole elements (with their knots).
 *
 * @module
 */
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { dispatchFlat, expectSize } from "./_util.ts";
import { SPLINE, SPLINE_KNOTS } from "./specs.ts";

function dispatch(entry: string, bins: number, n: number, b: (Tensor | null)[]): void {
  dispatchFlat(SPLINE, entry, n, b, (c) => new Uniforms().u32(c).u32(bins));
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

/** Spline parameterisation constants (the neural-spline-flow defaults). */
export interface SplineShape {
  /** Bins K (at most 64). */
  bins: number;
  /** Tail bound B: the spline acts on [-B, B], identity outside. */
  bound: number;
  /** Minimum bin width, height and interior derivative (default 1e-3 each). */
  minWidth?: number;
  /** Minimum bin height. */
  minHeight?: number;
  /** Minimum interior derivative. */
  minDerivative?: number;
}

function knotsUniforms(n: number, s: SplineShape): Uniforms {
  if (!(s.bins >= 1 && s.bins <= 64)) {
    throw new RangeError(`spline: bins must be in 1..64, got ${s.bins}`);
  }
  return new Uniforms().u32(n).u32(s.bins).f32(s.bound).f32(s.minWidth ?? 1e-3)
    .f32(s.minHeight ?? 1e-3).f32(s.minDerivative ?? 1e-3);
}

/**
 * Knots (n, 3 (K + 1)) from unconstrained parameters raw (n, 3K - 1) = [widths | heights |
 * interior derivatives]: softmax widths and heights with a minimum, cumulated over [-B, B];
 * softplus derivatives shifted so that raw = 0 gives the identity map; end derivatives 1.
 *
 * @example
 * ```ts ignore
 * const knots = splineKnots(raw, { bins: 8, bound: 4 });
 * ```
 */
export function splineKnots(raw: Tensor, shape: SplineShape): Tensor {
  const K = shape.bins, n = raw.size / (3 * K - 1);
  if (!Number.isInteger(n)) {
    throw new RangeError(
      `splineKnots: raw size ${raw.size} is not a multiple of 3K-1 = ${3 * K - 1}`,
    );
  }
  const out = raw.gpu.empty([n, 3 * (K + 1)]);
  dispatchFlat(SPLINE_KNOTS, "knots_fwd", n, [raw, null, out], (c) => knotsUniforms(c, shape));
  return out;
}

/**
 * dL/draw (shape of raw) from dL/dknots, for {@linkcode splineKnots}.
 *
 * @example
 * ```ts ignore
 * const draw = splineKnotsBackward(raw, dknots, { bins: 8, bound: 4 });
 * ```
 */
export function splineKnotsBackward(raw: Tensor, dknots: Tensor, shape: SplineShape): Tensor {
  const K = shape.bins, n = raw.size / (3 * K - 1);
  expectSize("splineKnotsBackward", "dknots", dknots, n * 3 * (K + 1));
  const out = raw.gpu.empty(raw.shape);
  dispatchFlat(SPLINE_KNOTS, "knots_bwd", n, [raw, dknots, out], (c) => knotsUniforms(c, shape));
  return out;
}
