// Private to the matmul kernels: the shape of a matmul problem after transposes and broadcast,
// and the split of a storage-path problem into parts under the binding limit.
import { ShapeError } from "../gpu/errors.ts";
import type { Gpu } from "../gpu/gpu.ts";
import { Uniforms } from "../gpu/kernel_spec.ts";
import { DTYPE_BYTES, type Tensor } from "../gpu/tensor.ts";
import { rowSegments } from "./_util.ts";

/** Shapes of a matmul problem after resolving transposes and batch broadcast. */
export interface Problem {
  m: number;
  n: number;
  k: number;
  batch: number;
  strideA: number;
  strideB: number;
  strideC: number;
  outShape: number[];
}

export function resolve(
  a: Tensor,
  b: Tensor,
  o: { transA?: boolean; transB?: boolean },
): Problem {
  if (a.shape.length < 2 || b.shape.length < 2) {
    throw new ShapeError(
      `matmul: operands must be at least 2-D, got [${a.shape}] and [${b.shape}]`,
    );
  }
  const ar = a.shape.length, br = b.shape.length;
  const [a0, a1] = [a.shape[ar - 2], a.shape[ar - 1]];
  const [b0, b1] = [b.shape[br - 2], b.shape[br - 1]];
  const m = o.transA ? a1 : a0, ka = o.transA ? a0 : a1;
  const kb = o.transB ? b1 : b0, n = o.transB ? b0 : b1;
  if (ka !== kb) {
    throw new ShapeError(
      `matmul: inner dimensions differ: A [${a.shape}]${o.transA ? "ᵀ" : ""} has K=${ka}, ` +
        `B [${b.shape}]${o.transB ? "ᵀ" : ""} has K=${kb}`,
    );
  }
  const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
  const batch = batchA.reduce((x, y) => x * y, 1);
  const nbB = batchB.reduce((x, y) => x * y, 1);
  if (nbB !== 1 && nbB !== batch) {
    throw new ShapeError(`matmul: batch dims [${batchA}] and [${batchB}] do not broadcast`);
  }
  return {
    m,
    n,
    k: ka,
    batch,
    strideA: m * ka,
    strideB: nbB === 1 ? 0 : kb * n,
    strideC: m * n,
    outShape: [...batchA, m, n],
  };
}

/** The options a storage-path matmul part needs (a subset of `MatmulOptions`). */
export interface PartOptions {
  transA?: boolean;
  transB?: boolean;
  bias?: Tensor;
  accumulate?: boolean;
  alpha?: number;
}

/** The uniform block of `matmul.wgsl` and `half.wgsl`'s `matmul_half` for one part. */
export function partUniforms(pr: Problem, o: PartOptions): Uniforms {
  return new Uniforms().u32(pr.m).u32(pr.n).u32(pr.k).u32(pr.strideA).u32(pr.strideB)
    .u32(pr.strideC).u32(o.bias ? 1 : 0).u32(o.accumulate ? 1 : 0).f32(o.alpha ?? 1);
}

/** Records one storage-path matmul part whose operands fit the binding limit. */
export type PartDispatch = (a: Tensor, b: Tensor, out: Tensor, pr: Problem, o: PartOptions) => void;

/**
 * A storage-path matmul in parts under the binding limit when an operand exceeds it (sizes in
 * bytes, so f16 operands split at their own size): groups of whole batches; then, in one batch,
 * rows of A and C (B bound whole), or, for a transposed A (a weight gradient `Aᵀ dC` over many
 * rows), slices of K accumulated into C. `run` records each part.
 */
export function splitStorage(
  name: string,
  gpu: Gpu,
  a: Tensor,
  b: Tensor,
  out: Tensor,
  pr: Problem,
  o: PartOptions,
  run: PartDispatch,
): void {
  const maxZ = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (pr.batch > maxZ) throw new ShapeError(`${name}: batch ${pr.batch} exceeds ${maxZ}`);
  const [ea, eb, ec] = [a, b, out].map((t) => DTYPE_BYTES[t.dtype]);
  const limit = Math.floor(gpu.maxBindingSize / 4) * 4;
  const sizeA = pr.batch * pr.m * pr.k * ea, sizeC = pr.batch * pr.m * pr.n * ec;
  const sizeB = (pr.strideB ? pr.batch : 1) * pr.k * pr.n * eb;
  if (sizeA <= limit && sizeB <= limit && sizeC <= limit) {
    run(a, b, out, pr, o);
    return;
  }
  const views = (t: Tensor, stride: number, s: number, c: number) =>
    stride ? t.view([c * stride], s * stride) : t;
  if (pr.batch > 1) {
    const parts = ([[pr.strideA, ea], [pr.strideB, eb], [pr.strideC, ec]] as const)
      .filter(([w]) => w > 0);
    // Groups of batches under the limit, or single batches split further below.
    const align = gpu.limits.minStorageBufferOffsetAlignment;
    const widest = Math.max(...parts.map(([w, e]) => w * e));
    if (widest > limit && parts.some(([w, e]) => (w * e) % align)) {
      throw new ShapeError(
        `${name}: one batch of a ${pr.batch}x${pr.m}x${pr.k}x${pr.n} problem exceeds the ` +
          `${gpu.maxBindingSize}-byte storage binding limit and its batch stride is not a ` +
          `multiple of ${align} bytes, so it cannot be bound in parts; use a smaller batch`,
      );
    }
    const segments = widest <= limit
      ? rowSegments(gpu, pr.batch, parts.map(([w]) => w), Infinity, parts.map(([, e]) => e))
      : Array.from({ length: pr.batch }, (_, i): [number, number] => [i, 1]);
    for (const [s, c] of segments) {
      splitStorage(
        name,
        gpu,
        views(a, pr.strideA, s, c),
        views(b, pr.strideB, s, c),
        views(out, pr.strideC, s, c),
        { ...pr, batch: c },
        o,
        run,
      );
    }
    return;
  }
  const tooBig = (what: string) =>
    new ShapeError(
      `${name}: ${what} of a ${pr.m}x${pr.k}x${pr.n} problem${o.transA ? " (A transposed)" : ""}${
        o.transB ? " (B transposed)" : ""
      } exceeds the ${gpu.maxBindingSize}-byte storage binding limit; use a smaller batch`,
    );
  if (!o.transA) {
    // Rows of A (M x K) and C (M x N); B bound whole.
    if (sizeB > limit) throw tooBig("B");
    for (const [s, c] of rowSegments(gpu, pr.m, [pr.k, pr.n], Infinity, [ea, ec])) {
      const part = { ...pr, m: c, strideA: c * pr.k, strideC: c * pr.n };
      run(a.view([c * pr.k], s * pr.k), b, out.view([c * pr.n], s * pr.n), part, o);
    }
    return;
  }
  // A stored (K, M): slices of K rows of A and of B (K x N), accumulated into C.
  if (o.transB) throw tooBig("A");
  if (sizeC > limit) throw tooBig("C");
  for (const [s, c] of rowSegments(gpu, pr.k, [pr.m, pr.n], Infinity, [ea, eb])) {
    const part = { ...pr, k: c, strideA: c * pr.m, strideB: 0 };
    const first = s === 0;
    run(
      a.view([c * pr.m], s * pr.m),
      b.view([c * pr.n], s * pr.n),
      out,
      part,
      { ...o, bias: first ? o.bias : undefined, accumulate: !first || o.accumulate },
    );
  }
}
