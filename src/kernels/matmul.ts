/**
 * Batched matmul with either operand transposed and a bias epilogue. The backward pass of
 * `C = A B + bias` is three calls: `dA = dC B^T`, `dB = A^T dC`, `dbias = colSum(dC)`.
 *
 * Two implementations, chosen per adapter (`gpu.matmulPath`): register-tiled storage-buffer
 * loads (discrete GPUs) and texture-operand loads (CPU drivers; see `bench/RESULTS.md`).
 *
 * @module
 */
import { ShapeError } from "../gpu/errors.ts";
import type { Gpu } from "../gpu/gpu.ts";
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { expectSize } from "./_util.ts";
import { MATMUL, MATMUL_TEX } from "./specs.ts";

/** Options of {@linkcode matmul}. */
export interface MatmulOptions {
  /** `a` is stored (..., K, M) and used transposed. */
  transA?: boolean;
  /** `b` is stored (..., N, K) and used transposed. */
  transB?: boolean;
  /** Bias (N) added to every row of the result. */
  bias?: Tensor;
  /** Write into this tensor instead of a new one. */
  out?: Tensor;
  /** `out += result` (requires `out`). */
  accumulate?: boolean;
  /** Scale of the product. Default 1. */
  alpha?: number;
  /** Force an implementation (tests); default `gpu.matmulPath`. */
  path?: "texture" | "storage";
}

/** Shapes of a matmul problem after resolving transposes and batch broadcast. */
interface Problem {
  m: number;
  n: number;
  k: number;
  batch: number;
  strideA: number;
  strideB: number;
  strideC: number;
  outShape: number[];
}

function resolve(a: Tensor, b: Tensor, o: MatmulOptions): Problem {
  if (a.shape.length < 2 || b.shape.length < 2) {
    throw new ShapeError(`matmul: operands must be at least 2-D, got [${a.shape}] and [${b.shape}]`);
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

/**
 * `alpha * op(a) op(b) (+ bias)`, batched over leading dims (a 2-D `b` is shared by every
 * batch). Returns (..., M, N).
 *
 * @example Linear layer forward and backward
 * ```ts ignore
 * const y = matmul(x, w, { transB: true, bias }); // x (R, in), w (out, in): y = x wᵀ + b
 * const dx = matmul(dy, w);                        // (R, out) (out, in)
 * const dw = matmul(dy, x, { transA: true });      // dyᵀ x: (out, in)
 * ```
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const gpu = a.gpu;
  const pr = resolve(a, b, options);
  if (options.bias) expectSize("matmul", "bias", options.bias, pr.n);
  if (options.accumulate && !options.out) throw new Error("matmul: accumulate needs out");
  const out = options.out ?? gpu.empty(pr.outShape);
  expectSize("matmul", "out", out, pr.batch * pr.m * pr.n);
  // A shared B with a contiguous, untransposed A is one big (batch*M, K) problem.
  if (pr.strideB === 0 && pr.batch > 1 && !options.transA) {
    pr.m *= pr.batch;
    pr.batch = 1;
  }
  if (pr.m === 0 || pr.n === 0) return out;
  const path = options.path ?? gpu.matmulPath;
  if (path === "texture") matmulTexture(gpu, a, b, out, pr, options);
  else matmulStorage(gpu, a, b, out, pr, options);
  return out;
}

function matmulStorage(
  gpu: Gpu,
  a: Tensor,
  b: Tensor,
  out: Tensor,
  pr: Problem,
  o: MatmulOptions,
): void {
  const maxZ = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (pr.batch > maxZ) throw new ShapeError(`matmul: batch ${pr.batch} exceeds ${maxZ}`);
  gpu.dispatch(MATMUL, "matmul", {
    uniforms: new Uniforms().u32(pr.m).u32(pr.n).u32(pr.k).u32(pr.strideA).u32(pr.strideB)
      .u32(pr.strideC).u32(o.bias ? 1 : 0).u32(o.accumulate ? 1 : 0).f32(o.alpha ?? 1),
    bindings: [a, b, o.bias ?? null, out],
    workgroups: [Math.ceil(pr.n / 32), Math.ceil(pr.m / 32), pr.batch],
    overrides: { TRANS_A: o.transA ? 1 : 0, TRANS_B: o.transB ? 1 : 0 },
  });
}

const ceilTo = (x: number, m: number) => Math.ceil(x / m) * m;

function matmulTexture(
  gpu: Gpu,
  a: Tensor,
  b: Tensor,
  out: Tensor,
  pr: Problem,
  o: MatmulOptions,
): void {
  const maxH = Math.min(gpu.limits.maxTextureDimension2D, 16384);
  // Element (batch, r, c) strides of the A view (M x K) and the B view (K x N).
  const aRow = o.transA ? 1 : pr.k, aCol = o.transA ? pr.m : 1;
  const bRow = o.transB ? 1 : pr.n, bCol = o.transB ? pr.k : 1;
  const mc = Math.min(ceilTo(pr.m, 8), maxH);
  const kc = Math.min(ceilTo(pr.k, 4), maxH);
  const nb = Math.max(1, Math.min(pr.batch, Math.floor(maxH / Math.max(ceilTo(mc, 8), kc))));
  const nTex = ceilTo(pr.n, 16) / 4;
  for (let b0 = 0; b0 < pr.batch; b0 += nb) {
    const bn = Math.min(nb, pr.batch - b0);
    for (let m0 = 0; m0 < pr.m; m0 += mc) {
      const rows = Math.min(mc, pr.m - m0);
      const mPad = ceilTo(rows, 8);
      for (let k0 = 0; k0 < pr.k; k0 += kc) {
        const kn = Math.min(kc, pr.k - k0);
        const kPad = ceilTo(kn, 4);
        const ta = gpu.acquireTexture(kPad / 4, bn * mPad);
        const tb = gpu.acquireTexture(nTex, bn * kPad);
        pack(gpu, a, ta, {
          rows,
          cols: kn,
          rowStride: aRow,
          colStride: aCol,
          batchStride: pr.strideA,
          offset: b0 * pr.strideA + m0 * aRow + k0 * aCol,
          rowsPad: mPad,
          texels: kPad / 4,
          batches: bn,
        });
        pack(gpu, b, tb, {
          rows: kn,
          cols: pr.n,
          rowStride: bRow,
          colStride: bCol,
          batchStride: pr.strideB,
          offset: b0 * pr.strideB + k0 * bRow,
          rowsPad: kPad,
          texels: nTex,
          batches: bn,
        });
        const first = k0 === 0;
        gpu.dispatch(MATMUL_TEX, "mm", {
          uniforms: new Uniforms().u32(0).u32(0).u32(0).u32(0).u32(0).u32(0).u32(0).u32(0)
            .u32(rows).u32(pr.n).u32(kn).u32(mPad).u32(kPad)
            .u32(first && o.bias ? 1 : 0).u32(!first || o.accumulate ? 1 : 0).f32(o.alpha ?? 1)
            .u32(b0 * pr.strideC + m0 * pr.n).u32(pr.strideC),
          bindings: [null, o.bias ?? null, out, null, ta, tb],
          workgroups: [Math.ceil(pr.n / 16 / 8), Math.ceil(rows / 8 / 8), bn],
        });
        gpu.releaseTexture(ta);
        gpu.releaseTexture(tb);
      }
    }
  }
}

function pack(
  gpu: Gpu,
  src: Tensor,
  dst: GPUTexture,
  v: {
    rows: number;
    cols: number;
    rowStride: number;
    colStride: number;
    batchStride: number;
    offset: number;
    rowsPad: number;
    texels: number;
    batches: number;
  },
): void {
  gpu.dispatch(MATMUL_TEX, "pack", {
    uniforms: new Uniforms().u32(v.rows).u32(v.cols).u32(v.rowStride).u32(v.colStride)
      .u32(v.batchStride).u32(v.offset).u32(v.rowsPad).u32(v.texels),
    bindings: [src, null, null, dst, null, null],
    workgroups: [Math.ceil(v.texels / 8), Math.ceil(v.rowsPad / 8), v.batches],
  });
}
