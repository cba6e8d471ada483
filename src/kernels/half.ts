/**
 * Mixed precision (adapters with `shader-f16`): f32 <-> f16 conversion and a matmul of f16
 * operands with f32 accumulation, bias and output. Linear layers use it when the device was
 * requested with `precision: "f16"` (see `src/autograd/ops/dense.ts`): weights stay f32 master
 * copies, and each step converts them and the layer inputs to f16 for the products.
 *
 * Not chunked: an f16 operand above the storage binding limit fails with the binding-limit
 * message (the f32 kernels split such operands).
 *
 * @module
 */
import { ShapeError } from "../gpu/errors.ts";
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { expectDtype, expectSize, grid1d } from "./_util.ts";
import { resolve } from "./_matmul_problem.ts";
import type { MatmulOptions } from "./matmul.ts";
import { HALF } from "./specs.ts";

function convert(entry: string, src: Tensor, dtype: "f16" | "f32"): Tensor {
  const out = src.gpu.empty(src.shape, dtype);
  const b = dtype === "f16" ? [null, null, src, null, out] : [src, null, null, out, null];
  src.gpu.dispatch(HALF, entry, {
    uniforms: new Uniforms().u32(src.size).u32(0).u32(0).u32(0).u32(0).u32(0).u32(0).u32(0)
      .f32(1),
    bindings: b,
    workgroups: grid1d(src.size),
  });
  return out;
}

/**
 * An f16 copy of an f32 tensor (round to nearest even; magnitudes beyond 65504 become ±inf).
 *
 * @example
 * ```ts ignore
 * const h = toHalf(x); // same shape, dtype "f16"
 * ```
 */
export function toHalf(x: Tensor): Tensor {
  expectDtype("toHalf", "x", x, "f32");
  return convert("to_half", x, "f16");
}

/**
 * An f32 copy of an f16 tensor (exact).
 *
 * @example
 * ```ts ignore
 * const x = toFloat(toHalf(y)); // y rounded to f16
 * ```
 */
export function toFloat(h: Tensor): Tensor {
  expectDtype("toFloat", "h", h, "f16");
  return convert("to_float", h, "f32");
}

/**
 * `alpha * op(a) op(b) (+ bias) (+ out)` for f16 operands, accumulated and returned in f32
 * (bias and `out` are f32). Same options and shapes as {@linkcode matmul} (`path` is ignored).
 *
 * @example
 * ```ts ignore
 * const y = matmulHalf(toHalf(x), toHalf(w), { transB: true, bias }); // f32 (R, out)
 * ```
 */
export function matmulHalf(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  expectDtype("matmulHalf", "a", a, "f16");
  expectDtype("matmulHalf", "b", b, "f16");
  const gpu = a.gpu, pr = resolve(a, b, options);
  if (options.bias) expectSize("matmulHalf", "bias", options.bias, pr.n);
  if (options.accumulate && !options.out) throw new Error("matmulHalf: accumulate needs out");
  const out = options.out ?? gpu.empty(pr.outShape);
  expectSize("matmulHalf", "out", out, pr.batch * pr.m * pr.n);
  if (pr.strideB === 0 && pr.batch > 1 && !options.transA) {
    pr.m *= pr.batch;
    pr.batch = 1;
  }
  if (pr.m === 0 || pr.n === 0) return out;
  const maxZ = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (pr.batch > maxZ) throw new ShapeError(`matmulHalf: batch ${pr.batch} exceeds ${maxZ}`);
  gpu.dispatch(HALF, "matmul_half", {
    uniforms: new Uniforms().u32(pr.m).u32(pr.n).u32(pr.k).u32(pr.strideA).u32(pr.strideB)
      .u32(pr.strideC).u32(options.bias ? 1 : 0).u32(options.accumulate ? 1 : 0)
      .f32(options.alpha ?? 1),
    bindings: [a, b, options.bias ?? null, out, null],
    workgroups: [Math.ceil(pr.n / 64), Math.ceil(pr.m / 64), pr.batch],
    overrides: { TRANS_A: options.transA ? 1 : 0, TRANS_B: options.transB ? 1 : 0 },
  });
  return out;
}
