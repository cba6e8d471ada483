/**
 * Mixed precision (adapters with `shader-f16`): f32 <-> f16 conversion and a matmul of f16
 * operands with f32 accumulation, bias and output. Linear layers use it when the device was
 * requested with `precision: "f16"` (see `src/autograd/ops/dense.ts`): weights stay f32 master
 * copies, and each step converts them and the layer inputs to f16 for the products.
 *
 * Operands above the storage binding limit are split as the f32 kernels split them (the
 * conversions into element ranges, the matmul by batches, rows or K slices, sized in bytes).
 *
 * @module
 */
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { expectDtype, expectSize, grid1d, rowSegments } from "./_util.ts";
import { partUniforms, resolve, splitStorage } from "./_matmul_problem.ts";
import type { MatmulOptions } from "./matmul.ts";
import { HALF } from "./specs.ts";

function convert(entry: string, src: Tensor, dtype: "f16" | "f32"): Tensor {
  const gpu = src.gpu, out = gpu.empty(src.shape, dtype);
  const bytes = dtype === "f16" ? [4, 2] : [2, 4];
  for (const [s, n] of rowSegments(gpu, src.size, [1, 1], Infinity, bytes)) {
    const whole = s === 0 && n === src.size;
    const [i, o] = whole ? [src, out] : [src.view([n], s), out.view([n], s)];
    const b = dtype === "f16" ? [null, null, i, null, o] : [i, null, null, o, null];
    gpu.dispatch(HALF, entry, {
      uniforms: new Uniforms().u32(n).u32(0).u32(0).u32(0).u32(0).u32(0).u32(0).u32(0).f32(1),
      bindings: b,
      workgroups: grid1d(n),
    });
  }
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
  splitStorage("matmulHalf", gpu, a, b, out, pr, options, (pa, pb, pout, part, o) => {
    gpu.dispatch(HALF, "matmul_half", {
      uniforms: partUniforms(part, o),
      bindings: [pa, pb, o.bias ?? null, pout, null],
      workgroups: [Math.ceil(part.n / 64), Math.ceil(part.m / 64), part.batch],
      overrides: { TRANS_A: o.transA ? 1 : 0, TRANS_B: o.transB ? 1 : 0 },
    });
  });
  return out;
}
