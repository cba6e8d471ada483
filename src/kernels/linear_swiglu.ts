/**
 * A linear layer with a fused SwiGLU epilogue on the storage path: `h = silu(a) * b` with
 * `[a | b] = x wᵀ + bias`, one pass instead of a matmul and an elementwise kernel, optionally
 * keeping `[a | b]` for the backward pass. Bit-identical to `swigluForward(matmul(x, w, …))`.
 *
 * @module
 */
import { ShapeError } from "../gpu/errors.ts";
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { expectSize, rowSegments } from "./_util.ts";
import { MATMUL_SWIGLU } from "./specs.ts";

/** Result of {@linkcode linearSwiglu}. */
export interface LinearSwigluOut {
  /** (rows, H): silu(a) * b. */
  h: Tensor;
  /** (rows, 2H) pre-activations [a | b] when `saveAb`, else null. */
  ab: Tensor | null;
}

/**
 * Whether {@linkcode linearSwiglu} takes this weight: the device's storage matmul path, f32, and
 * a weight within one storage binding (activations are split by rows as needed).
 *
 * @param w the (2H, K) weight
 * @returns true when the fused kernel applies
 * @example
 * ```ts ignore
 * const y = fusedSwigluApplies(w) ? linearSwiglu(x, w, b).h : swigluForward(matmul(x, w, { transB: true, bias: b }));
 * ```
 */
export function fusedSwigluApplies(w: Tensor): boolean {
  const gpu = w.gpu;
  return gpu.matmulPath === "storage" && gpu.precision !== "f16" && w.dtype === "f32" &&
    w.size * 4 <= gpu.maxBindingSize;
}

/**
 * `silu(a) * b` for `[a | b] = x wᵀ + bias` in one kernel (storage path).
 *
 * @param x (rows, K) inputs
 * @param w (2H, K) weight: rows 0..H-1 give a, rows H..2H-1 give b
 * @param bias (2H) bias, optional
 * @param o `saveAb`: also write the (rows, 2H) pre-activations (for the backward pass)
 * @returns h (rows, H) and the pre-activations or null
 * @throws {ShapeError} on mismatched shapes, an odd 2H, or a weight above the binding limit
 * @example
 * ```ts ignore
 * const { h, ab } = linearSwiglu(x, w1, b1, { saveAb: true });
 * ```
 */
export function linearSwiglu(
  x: Tensor,
  w: Tensor,
  bias?: Tensor,
  o: { saveAb?: boolean } = {},
): LinearSwigluOut {
  const gpu = x.gpu;
  const [twoH, K] = w.shape;
  if (w.shape.length !== 2 || twoH % 2 !== 0) {
    throw new ShapeError(`linearSwiglu: weight [${w.shape}] must be (2H, K) with 2H even`);
  }
  if (x.shape.at(-1) !== K) {
    throw new ShapeError(`linearSwiglu: input [${x.shape}] last axis != weight in ${K}`);
  }
  if (w.size * 4 > gpu.maxBindingSize) {
    throw new ShapeError(
      `linearSwiglu: weight [${w.shape}] exceeds the ${gpu.maxBindingSize}-byte binding limit`,
    );
  }
  if (bias) expectSize("linearSwiglu", "bias", bias, twoH);
  const H = twoH / 2, rows = x.size / K;
  const h = gpu.empty([rows, H]);
  const ab = o.saveAb ? gpu.empty([rows, twoH]) : null;
  if (rows === 0 || H === 0) return { h, ab };
  const maxRows = gpu.limits.maxComputeWorkgroupsPerDimension * 64; // the grid's y in 64-row tiles
  for (const [s, n] of rowSegments(gpu, rows, [K, twoH, H], maxRows)) {
    const whole = s === 0 && n === rows;
    const v = (t: Tensor, width: number) => (whole ? t : t.view([n * width], s * width));
    gpu.dispatch(MATMUL_SWIGLU, "matmul_swiglu", {
      uniforms: new Uniforms().u32(n).u32(H).u32(K).u32(bias ? 1 : 0).u32(ab ? 1 : 0),
      bindings: [v(x, K), w, bias ?? null, ab ? v(ab, twoH) : null, v(h, H)],
      workgroups: [Math.ceil(H / 64), Math.ceil(n / 64), 1],
    });
  }
  return { h, ab };
}
