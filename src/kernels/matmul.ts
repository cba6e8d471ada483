/**
 * Batched matmul with either operand transposed and a bias epilogue. The backward pass of
 * `C = A B + bias` is three calls: `dA = dC B^T`, `dB = A^T dC`, `dbias = colSum(dC)`.
 *
 * Implementations chosen per adapter (`gpu.matmulPath`): on the storage path (discrete GPUs) a
 * register-tiled kernel (32x32 outputs per workgroup, operands read straight from storage) for
 * small problems, a shared-memory tiled one (64x64 outputs per workgroup, K in slices of 16
 * staged in workgroup memory) once both M and N reach 64, and a large-tile one (128x128 outputs
 * per workgroup, 8x8 per invocation, K slices of 8 with the next slice loaded into registers
 * during the current one's FMAs) for problems big enough to fill a discrete GPU with such
 * tiles; `tuneMatmuls` replaces that size rule with timings per shape class. Texture-operand
 * loads on CPU drivers (see `bench/RESULTS.md`). Both paths split operands above the storage
 * binding limit.
 *
 * @module
 */
import type { Gpu } from "../gpu/gpu.ts";
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { expectSize } from "./_util.ts";
import {
  type PartOptions,
  partUniforms,
  type Problem,
  resolve,
  splitStorage,
} from "./_matmul_problem.ts";
import { type MatmulKernel, tunedKernel } from "./matmul_tuner.ts";
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
  /**
   * Force an implementation (tests): `texture`, `storage` (the register-tiled kernel), `tiled`
   * (the 64x64 shared-memory kernel) or `tiled128` (the 128x128 one); both load vec4s where the
   * operands allow ({@linkcode storageEntry}). Default:
   * `gpu.matmulPath`, and on the storage path the kernel tuned for the shape class
   * (`tuneMatmuls`), else the size rule ({@linkcode TILED_MIN}, {@linkcode TILED128_MIN_ROWS}).
   */
  path?: "texture" | "storage" | "tiled" | "tiled128";
  /**
   * Storage path: let the shared-memory kernels load vec4s where the operands allow
   * ({@linkcode storageEntry}). Default true; false keeps scalar loads (benchmarks compare the
   * two). The result is the same either way.
   */
  vec4Loads?: boolean;
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
  else {
    const kernel: MatmulKernel = options.path === undefined
      ? chooseKernel(gpu, pr, options)
      : STORAGE_PATH_KERNELS[options.path as keyof typeof STORAGE_PATH_KERNELS] ?? "matmul";
    splitStorage(
      "matmul",
      gpu,
      a,
      b,
      out,
      pr,
      options,
      (pa, pb, pout, part, po) =>
        storageDispatch(gpu, pa, pb, pout, part, po, kernel, options.vec4Loads ?? true),
    );
  }
  return out;
}

/** The storage kernel each forced `path` runs (the tuner forces each in turn). */
export const STORAGE_PATH_KERNELS = {
  storage: "matmul",
  tiled: "matmul_tiled",
  tiled128: "matmul_tiled128",
} as const;

/** Outputs per workgroup side of each storage-path kernel. */
const TILE_OF: Record<MatmulKernel, number> = {
  matmul: 32,
  matmul_tiled: 64,
  matmul_tiled128: 128,
};

/** The kernel tuned for the problem's shape class (`tuneMatmuls`), else the size rule. */
function chooseKernel(gpu: Gpu, pr: Problem, o: MatmulOptions): MatmulKernel {
  const { m, n, k, batch } = pr;
  const tuned = tunedKernel(gpu, { m, n, k, batch, transA: !!o.transA, transB: !!o.transB });
  if (tuned) return tuned;
  if (m * batch >= TILED128_MIN_ROWS && n >= 128 && m >= 128) return "matmul_tiled128";
  return m >= TILED_MIN && n >= TILED_MIN ? "matmul_tiled" : "matmul";
}

/**
 * Smallest M and N for which the untuned storage path uses the 64x64 shared-memory kernel.
 *
 * @example
 * ```ts
 * import { TILED_MIN } from "@mpm/webgpu/kernels";
 * console.assert(TILED_MIN === 64);
 * ```
 */
export const TILED_MIN = 64;

/**
 * Smallest number of result rows (over the batch) for which the untuned storage path uses the
 * 128x128 kernel (N and M at least 128 too): about 16 rows of 128-wide tiles per column block,
 * enough workgroups to occupy a large GPU. A size rule, not a measurement; `tuneMatmuls` decides
 * per shape class once a run has tuned.
 *
 * @example
 * ```ts
 * import { TILED128_MIN_ROWS } from "@mpm/webgpu/kernels";
 * // The paper preset's token rows at batch 1000 (48 per jet) take the 128x128 kernel untuned.
 * console.assert(1000 * 48 >= TILED128_MIN_ROWS);
 * ```
 */
export const TILED128_MIN_ROWS = 2048;

function storageDispatch(
  gpu: Gpu,
  a: Tensor,
  b: Tensor,
  out: Tensor,
  pr: Problem,
  o: PartOptions,
  kernel: MatmulKernel,
  vec4Loads: boolean,
): void {
  const tile = TILE_OF[kernel];
  gpu.dispatch(MATMUL, vec4Loads ? storageEntry(kernel, pr, o) : kernel, {
    uniforms: partUniforms(pr, o),
    bindings: [a, b, o.bias ?? null, out],
    workgroups: [Math.ceil(pr.n / tile), Math.ceil(pr.m / tile), pr.batch],
    overrides: { TRANS_A: o.transA ? 1 : 0, TRANS_B: o.transB ? 1 : 0 },
  });
}

/**
 * The entry point of `shaders/matmul.wgsl` that runs `kernel` on a problem: the shared-memory
 * kernels load their operands as vec4s (`matmul_tiled_vec4`, `matmul_tiled128_vec4`) when both
 * operands' contiguous dimensions are multiples of 4 (A: K, or M when transposed; B: N, or K
 * when transposed), which also makes every batch stride a multiple of 4. Same arithmetic, same
 * result. The register kernel reads straight from storage and keeps scalar loads.
 *
 * @param kernel the storage-path kernel chosen
 * @param pr the problem's M, N and K
 * @param o its transposes
 * @returns the entry point's name
 * @example
 * ```ts
 * import { storageEntry } from "@mpm/webgpu/kernels";
 * console.assert(storageEntry("matmul_tiled128", { m: 256, n: 128, k: 64 }, {}) === "matmul_tiled128_vec4");
 * console.assert(storageEntry("matmul_tiled128", { m: 256, n: 128, k: 7 }, {}) === "matmul_tiled128");
 * console.assert(storageEntry("matmul", { m: 256, n: 128, k: 64 }, {}) === "matmul");
 * ```
 */
export function storageEntry(
  kernel: MatmulKernel,
  pr: { m: number; n: number; k: number },
  o: { transA?: boolean; transB?: boolean },
): string {
  if (kernel === "matmul") return kernel;
  const contiguousA = o.transA ? pr.m : pr.k, contiguousB = o.transB ? pr.k : pr.n;
  return contiguousA % 4 === 0 && contiguousB % 4 === 0 ? `${kernel}_vec4` : kernel;
}

const ceilTo = (x: number, m: number) => Math.ceil(x / m) * m;
const floorTo = (x: number, m: number) => Math.floor(x / m) * m;

/**
 * A bindable sub-range of `t` covering elements [start, end): the view starts at an offset
 * aligned to `minStorageBufferOffsetAlignment`; `base` is where `start` falls inside it.
 */
function span(t: Tensor, start: number, end: number): { view: Tensor; base: number } {
  const align = t.gpu.limits.minStorageBufferOffsetAlignment / 4;
  const first = floorTo(t.byteOffset / 4 + start, align) - t.byteOffset / 4;
  const s0 = Math.max(0, first);
  return { view: t.view([end - s0], s0), base: start - s0 };
}

/** Chunk sizes of a texture matmul that respect texture and binding limits. */
function chunking(gpu: Gpu, pr: Problem, o: MatmulOptions) {
  const maxH = Math.min(gpu.limits.maxTextureDimension2D, 16384);
  const L = Math.floor(gpu.maxBindingSize / 4) - 256;
  let mc = Math.min(ceilTo(pr.m, 8), maxH);
  let kc = Math.min(ceilTo(pr.k, 4), maxH);
  let nc = Math.min(pr.n, 4 * maxH);
  // Element spans of one chunk in A (M x K view), B (K x N view) and C.
  const spanA = () => (o.transA ? (kc - 1) * pr.m + mc : (mc - 1) * pr.k + kc);
  const spanB = () => (o.transB ? (nc - 1) * pr.k + kc : (kc - 1) * pr.n + nc);
  const spanC = () => (mc - 1) * pr.n + nc;
  for (let guard = 0; guard < 64 && (spanA() > L || spanB() > L || spanC() > L); guard++) {
    if (spanA() > L) {
      if (o.transA) kc = Math.max(4, floorTo((L - mc) / pr.m, 4));
      else mc = Math.max(8, floorTo((L - kc) / pr.k, 8));
    }
    if (spanB() > L) {
      if (o.transB) nc = Math.max(64, floorTo((L - kc) / pr.k, 64));
      else kc = Math.max(4, floorTo((L - nc) / pr.n, 4));
    }
    if (spanC() > L) mc = Math.max(8, floorTo((L - nc) / pr.n, 8));
  }
  if (nc < pr.n) nc = Math.max(64, floorTo(nc, 64));
  let nb = Math.max(1, Math.min(pr.batch, Math.floor(maxH / Math.max(mc, kc))));
  const fits = (b: number) =>
    (b - 1) * pr.strideA + spanA() <= L && (b - 1) * pr.strideB + spanB() <= L &&
    (b - 1) * pr.strideC + spanC() <= L;
  while (nb > 1 && !fits(nb)) nb = Math.floor(nb / 2);
  return { mc, kc, nc, nb };
}

function matmulTexture(
  gpu: Gpu,
  a: Tensor,
  b: Tensor,
  out: Tensor,
  pr: Problem,
  o: MatmulOptions,
): void {
  // Element (batch, r, c) strides of the A view (M x K) and the B view (K x N).
  const aRow = o.transA ? 1 : pr.k, aCol = o.transA ? pr.m : 1;
  const bRow = o.transB ? 1 : pr.n, bCol = o.transB ? pr.k : 1;
  const { mc, kc, nc, nb } = chunking(gpu, pr, o);
  for (let b0 = 0; b0 < pr.batch; b0 += nb) {
    const bn = Math.min(nb, pr.batch - b0);
    for (let n0 = 0; n0 < pr.n; n0 += nc) {
      const cols = Math.min(nc, pr.n - n0);
      const nTex = ceilTo(cols, 16) / 4;
      for (let m0 = 0; m0 < pr.m; m0 += mc) {
        const rows = Math.min(mc, pr.m - m0);
        const mPad = ceilTo(rows, 8);
        for (let k0 = 0; k0 < pr.k; k0 += kc) {
          const kn = Math.min(kc, pr.k - k0);
          const kPad = ceilTo(kn, 4);
          const ta = gpu.acquireTexture(kPad / 4, bn * mPad);
          const tb = gpu.acquireTexture(nTex, bn * kPad);
          const aStart = b0 * pr.strideA + m0 * aRow + k0 * aCol;
          const aEnd = aStart + (bn - 1) * pr.strideA + (rows - 1) * aRow + (kn - 1) * aCol + 1;
          const sa = span(a, aStart, aEnd);
          pack(gpu, sa.view, ta, {
            rows,
            cols: kn,
            rowStride: aRow,
            colStride: aCol,
            batchStride: pr.strideA,
            offset: sa.base,
            rowsPad: mPad,
            texels: kPad / 4,
            batches: bn,
          });
          const bStart = b0 * pr.strideB + k0 * bRow + n0 * bCol;
          const bEnd = bStart + (bn - 1) * pr.strideB + (kn - 1) * bRow + (cols - 1) * bCol + 1;
          const sb = span(b, bStart, bEnd);
          pack(gpu, sb.view, tb, {
            rows: kn,
            cols,
            rowStride: bRow,
            colStride: bCol,
            batchStride: pr.strideB,
            offset: sb.base,
            rowsPad: kPad,
            texels: nTex,
            batches: bn,
          });
          const cStart = b0 * pr.strideC + m0 * pr.n + n0;
          const sc = span(out, cStart, cStart + (bn - 1) * pr.strideC + (rows - 1) * pr.n + cols);
          const first = k0 === 0;
          gpu.dispatch(MATMUL_TEX, "mm", {
            uniforms: new Uniforms().u32(0).u32(0).u32(0).u32(0).u32(0).u32(0).u32(0).u32(0)
              .u32(rows).u32(cols).u32(kn).u32(mPad).u32(kPad)
              .u32(first && o.bias ? 1 : 0).u32(!first || o.accumulate ? 1 : 0).f32(o.alpha ?? 1)
              .u32(sc.base).u32(pr.strideC).u32(pr.n),
            bindings: [null, o.bias ? o.bias.view([cols], n0) : null, sc.view, null, ta, tb],
            workgroups: [Math.ceil(cols / 16 / 8), Math.ceil(rows / 8 / 8), bn],
          });
          gpu.releaseTexture(ta);
          gpu.releaseTexture(tb);
        }
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
