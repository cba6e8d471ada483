/**
 * Elementwise and broadcast kernels (forward and backward): add/axpby, multiply, scale,
 * per-channel broadcasts, residual with LayerScale, SiLU, GELU and SwiGLU.
 *
 * @module
 */
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { dispatchFlat, expectSize, lastDim } from "./_util.ts";
import { ELEMENTWISE } from "./specs.ts";

function run(
  entry: string,
  n: number,
  cols: number,
  bindings: [Tensor | null, Tensor | null, Tensor | null, Tensor],
  alpha = 1,
  beta = 1,
): void {
  // Chunked by rows above the binding limit (SwiGLU's rows are `cols` outputs wide).
  dispatchFlat(
    ELEMENTWISE,
    entry,
    n,
    bindings,
    (count) => new Uniforms().u32(count).u32(Math.max(cols, 1)).f32(alpha).f32(beta),
    Math.max(cols, 1),
  );
}

function outFor(x: Tensor, out?: Tensor, shape: readonly number[] = x.shape): Tensor {
  if (out) {
    expectSize("elementwise", "out", out, shape.reduce((a, b) => a * b, 1));
    return out;
  }
  return x.gpu.empty(shape);
}

/**
 * `alpha * x + beta * y` (same shapes).
 *
 * @example
 * ```ts ignore
 * const z = axpby(x, y, { alpha: 1, beta: -1 }); // x - y
 * ```
 */
export function axpby(
  x: Tensor,
  y: Tensor,
  options: { alpha?: number; beta?: number; out?: Tensor } = {},
): Tensor {
  expectSize("axpby", "y", y, x.size);
  const out = outFor(x, options.out);
  run("axpby", x.size, 1, [x, y, null, out], options.alpha ?? 1, options.beta ?? 1);
  return out;
}

/**
 * `x + y` (same shapes).
 *
 * @example
 * ```ts ignore
 * const z = add(x, y);
 * ```
 */
export function add(x: Tensor, y: Tensor): Tensor {
  return axpby(x, y);
}

/**
 * In place: `out += alpha * x` (gradient accumulation).
 *
 * @example
 * ```ts ignore
 * accumulate(grad, g); // grad += g
 * ```
 */
export function accumulate(out: Tensor, x: Tensor, alpha = 1): void {
  expectSize("accumulate", "x", x, out.size);
  run("accumulate", out.size, 1, [x, null, null, out], alpha);
}

/**
 * `alpha * x`.
 *
 * @example
 * ```ts ignore
 * const half = scale(x, 0.5);
 * ```
 */
export function scale(x: Tensor, alpha: number, out?: Tensor): Tensor {
  const o = outFor(x, out);
  run("axpby", x.size, 1, [x, x, null, o], alpha, 0);
  return o;
}

/**
 * `alpha * x * y` elementwise.
 *
 * @example
 * ```ts ignore
 * const z = mul(x, y);
 * ```
 */
export function mul(x: Tensor, y: Tensor, options: { alpha?: number; out?: Tensor } = {}): Tensor {
  expectSize("mul", "y", y, x.size);
  const out = outFor(x, options.out);
  run("mul", x.size, 1, [x, y, null, out], options.alpha ?? 1);
  return out;
}

/**
 * `x + v` with `v` broadcast along the last axis (a bias).
 *
 * @example
 * ```ts ignore
 * const y = addBroadcast(x, bias); // x: (R, C), bias: (C)
 * ```
 */
export function addBroadcast(x: Tensor, v: Tensor, out?: Tensor): Tensor {
  expectSize("addBroadcast", "v", v, lastDim(x));
  const o = outFor(x, out);
  run("add_bcast", x.size, lastDim(x), [x, v, null, o]);
  return o;
}

/**
 * `x * v` with `v` broadcast along the last axis (a per-channel scale).
 *
 * @example
 * ```ts ignore
 * const y = mulBroadcast(x, gamma);
 * ```
 */
export function mulBroadcast(x: Tensor, v: Tensor, out?: Tensor): Tensor {
  expectSize("mulBroadcast", "v", v, lastDim(x));
  const o = outFor(x, out);
  run("mul_bcast", x.size, lastDim(x), [x, v, null, o]);
  return o;
}

/**
 * Residual with LayerScale: `x + f * gamma` (gamma per channel).
 *
 * @example
 * ```ts ignore
 * const h = residualScale(x, attnOut, gamma);
 * ```
 */
export function residualScale(x: Tensor, f: Tensor, gamma: Tensor): Tensor {
  expectSize("residualScale", "f", f, x.size);
  expectSize("residualScale", "gamma", gamma, lastDim(x));
  const o = x.gpu.empty(x.shape);
  run("residual_scale", x.size, lastDim(x), [x, f, gamma, o]);
  return o;
}

/**
 * SiLU `x * sigmoid(x)`.
 *
 * @example
 * ```ts ignore
 * const y = siluForward(x);
 * ```
 */
export function siluForward(x: Tensor): Tensor {
  const o = x.gpu.empty(x.shape);
  run("silu_fwd", x.size, 1, [x, null, null, o]);
  return o;
}

/**
 * Gradient of SiLU: `dy * silu'(x)`.
 *
 * @example
 * ```ts ignore
 * const dx = siluBackward(x, dy);
 * ```
 */
export function siluBackward(x: Tensor, dy: Tensor): Tensor {
  expectSize("siluBackward", "dy", dy, x.size);
  const o = x.gpu.empty(x.shape);
  run("silu_bwd", x.size, 1, [x, dy, null, o]);
  return o;
}

/**
 * Exact (erf) GELU, as `torch.nn.GELU()`.
 *
 * @example
 * ```ts ignore
 * const y = geluForward(x);
 * ```
 */
export function geluForward(x: Tensor): Tensor {
  const o = x.gpu.empty(x.shape);
  run("gelu_fwd", x.size, 1, [x, null, null, o]);
  return o;
}

/**
 * Gradient of exact GELU.
 *
 * @example
 * ```ts ignore
 * const dx = geluBackward(x, dy);
 * ```
 */
export function geluBackward(x: Tensor, dy: Tensor): Tensor {
  expectSize("geluBackward", "dy", dy, x.size);
  const o = x.gpu.empty(x.shape);
  run("gelu_bwd", x.size, 1, [x, dy, null, o]);
  return o;
}

/**
 * SwiGLU: `x` is (..., 2H) = [a | b]; returns (..., H) = `silu(a) * b`.
 *
 * @example
 * ```ts ignore
 * const h = swigluForward(x); // (R, 2H) -> (R, H)
 * ```
 */
export function swigluForward(x: Tensor): Tensor {
  const twoH = lastDim(x);
  if (twoH % 2 !== 0) throw new RangeError(`swiglu: last axis ${twoH} is odd`);
  const h = twoH / 2;
  const shape = [...x.shape.slice(0, -1), h];
  const o = x.gpu.empty(shape);
  run("swiglu_fwd", x.size / 2, h, [x, null, null, o]);
  return o;
}

/**
 * Gradient of SwiGLU with respect to its (..., 2H) input.
 *
 * @example
 * ```ts ignore
 * const dx = swigluBackward(x, dy);
 * ```
 */
export function swigluBackward(x: Tensor, dy: Tensor): Tensor {
  expectSize("swigluBackward", "dy", dy, x.size / 2);
  const o = x.gpu.empty(x.shape);
  run("swiglu_bwd", x.size / 2, lastDim(x) / 2, [x, dy, null, o]);
  return o;
}

/**
 * Dropout with a given uniform draw `u` (same shape): `u >= p ? x / (1 - p) : 0`. Applying it to
 * the upstream gradient with the same `u` is the backward pass.
 *
 * @example
 * ```ts ignore
 * const u = randomUniform(gpu, x.shape, key);
 * const y = dropoutApply(x, u, 0.2);
 * ```
 */
export function dropoutApply(x: Tensor, u: Tensor, p: number): Tensor {
  expectSize("dropout", "u", u, x.size);
  const o = x.gpu.empty(x.shape);
  run("dropout", x.size, 1, [x, u, null, o], p, 1 / (1 - p));
  return o;
}

/**
 * `|x - y|` elementwise.
 *
 * @example
 * ```ts ignore
 * const d = absDiffForward(fi, fj);
 * ```
 */
export function absDiffForward(x: Tensor, y: Tensor): Tensor {
  expectSize("absDiff", "y", y, x.size);
  const o = x.gpu.empty(x.shape);
  run("absdiff_fwd", x.size, 1, [x, y, null, o]);
  return o;
}

/**
 * Gradient of `|x - y|` with respect to x (`sign = 1`) or y (`sign = -1`): `± g * sign(x - y)`.
 *
 * @example
 * ```ts ignore
 * const dx = absDiffBackward(x, y, g, 1), dy = absDiffBackward(x, y, g, -1);
 * ```
 */
export function absDiffBackward(x: Tensor, y: Tensor, g: Tensor, sign: 1 | -1): Tensor {
  const o = x.gpu.empty(x.shape);
  run("absdiff_bwd", x.size, 1, [x, y, g, o], sign);
  return o;
}
