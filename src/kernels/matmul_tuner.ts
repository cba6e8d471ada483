/**
 * Tuning of the storage-path matmul per adapter and shape class. `matmul` notes the shape
 * classes it meets (M, N and K rounded up to powers of two, and the transposes); after a first
 * step, {@linkcode tuneMatmuls} times each candidate kernel on a problem of each new class (outside
 * any training step: it submits and waits) and keeps the fastest. Later calls of that class use
 * it; classes never tuned keep the size rule (the 64x64 shared-memory kernel from 64 x 64
 * outputs, the 128x128 one for the largest problems).
 *
 * @module
 */
import type { Gpu } from "../gpu/gpu.ts";
import { matmul, STORAGE_PATH_KERNELS } from "./matmul.ts";

/** The storage-path matmul kernels a shape class can be given. */
export type MatmulKernel = "matmul" | "matmul_tiled" | "matmul_tiled128";

/**
 * Every storage-path kernel, in the order {@linkcode tuneMatmuls} times them (ties go to the
 * earlier, smaller tile).
 *
 * @example
 * ```ts
 * import { MATMUL_KERNELS } from "@mpm/webgpu/kernels";
 * console.assert(MATMUL_KERNELS.at(-1) === "matmul_tiled128");
 * ```
 */
export const MATMUL_KERNELS: readonly MatmulKernel[] = [
  "matmul",
  "matmul_tiled",
  "matmul_tiled128",
];

/** A problem shape seen by `matmul` (after batch folding). */
export interface MatmulShape {
  /** Rows of the result. */
  m: number;
  /** Columns of the result. */
  n: number;
  /** Inner dimension. */
  k: number;
  /** Batch count. */
  batch: number;
  /** A used transposed. */
  transA: boolean;
  /** B used transposed. */
  transB: boolean;
}

/** What {@linkcode tuneMatmuls} found for one shape class. */
export interface MatmulTuning {
  /** The class key: `MxNxK` powers of two, batch, transposes. */
  shapeClass: string;
  /** The kernel chosen. */
  kernel: MatmulKernel;
  /** Seconds per call of each candidate on the class's first problem. */
  seconds: Record<MatmulKernel, number>;
}

interface TunerState {
  chosen: Map<string, MatmulKernel>;
  pending: Map<string, MatmulShape>;
}

const STATES = new WeakMap<Gpu, TunerState>();
/** Shape classes remembered per device before tuning (beyond this, new ones are not noted). */
const MAX_PENDING = 256;

function state(gpu: Gpu): TunerState {
  let s = STATES.get(gpu);
  if (!s) STATES.set(gpu, s = { chosen: new Map(), pending: new Map() });
  return s;
}

const pow2 = (x: number) => 2 ** Math.ceil(Math.log2(Math.max(1, x)));

/**
 * The shape class of a problem: M, N and K rounded up to powers of two, whether it is batched,
 * and the transposes.
 *
 * @example
 * ```ts
 * import { matmulShapeClass } from "@mpm/webgpu/kernels";
 * const c = matmulShapeClass({ m: 3000, n: 96, k: 64, batch: 1, transA: false, transB: true });
 * console.assert(c === "4096x128x64 b1 NT");
 * ```
 */
export function matmulShapeClass(s: MatmulShape): string {
  return `${pow2(s.m)}x${pow2(s.n)}x${pow2(s.k)} b${s.batch > 1 ? "n" : "1"} ${
    s.transA ? "T" : "N"
  }${s.transB ? "T" : "N"}`;
}

/**
 * The kernel tuned for a problem's class, or undefined (then the size rule applies); notes the
 * class for the next {@linkcode tuneMatmuls} when it is new. Used by `matmul`.
 */
export function tunedKernel(gpu: Gpu, s: MatmulShape): MatmulKernel | undefined {
  const st = state(gpu), key = matmulShapeClass(s);
  const k = st.chosen.get(key);
  if (!k && !st.pending.has(key) && st.pending.size < MAX_PENDING) st.pending.set(key, { ...s });
  return k;
}

/**
 * Times every candidate kernel on each shape class `matmul` met since the last call and keeps
 * the fastest per class. Call it between steps (it submits and waits), e.g. after the first step
 * of a run; a no-op on the texture path or when nothing new was seen.
 *
 * @param gpu the device
 * @param o `time`: seconds of work per candidate and class (default 0.05)
 * @returns what was tuned by this call
 * @example
 * ```ts ignore
 * step();                       // matmul notes its shape classes
 * const tuned = await tuneMatmuls(gpu);
 * for (const t of tuned) console.log(t.shapeClass, t.kernel);
 * ```
 */
export async function tuneMatmuls(gpu: Gpu, o: { time?: number } = {}): Promise<MatmulTuning[]> {
  const st = state(gpu), out: MatmulTuning[] = [];
  if (gpu.matmulPath !== "storage") {
    st.pending.clear();
    return out;
  }
  gpu.submit();
  for (const [key, s] of st.pending) {
    const a = gpu.zeros(s.transA ? [s.batch, s.k, s.m] : [s.batch, s.m, s.k]);
    const b = gpu.zeros(s.transB ? [s.batch, s.n, s.k] : [s.batch, s.k, s.n]);
    const c = gpu.empty([s.batch, s.m, s.n]);
    const seconds = {} as Record<MatmulKernel, number>;
    for (const kernel of MATMUL_KERNELS) {
      const path = (Object.keys(STORAGE_PATH_KERNELS) as (keyof typeof STORAGE_PATH_KERNELS)[])
        .find((p) => STORAGE_PATH_KERNELS[p] === kernel);
      const run = (reps: number) => {
        for (let r = 0; r < reps; r++) {
          matmul(a, b, { transA: s.transA, transB: s.transB, out: c, path });
        }
        return gpu.sync();
      };
      await run(1); // compiles
      let reps = 1, t = 0;
      for (;;) {
        const t0 = performance.now();
        await run(reps);
        t = (performance.now() - t0) / 1000;
        if (t >= (o.time ?? 0.05) || reps >= 64) break;
        reps *= 4;
      }
      seconds[kernel] = t / reps;
    }
    for (const x of [a, b, c]) x.dispose();
    // The fastest; ties go to the smaller tile (listed first).
    const kernel = MATMUL_KERNELS.reduce((best, k) => seconds[k] < seconds[best] ? k : best);
    st.chosen.set(key, kernel);
    out.push({ shapeClass: key, kernel, seconds });
  }
  st.pending.clear();
  gpu.submit();
  return out;
}

/**
 * The kernel chosen per shape class so far on `gpu` (empty before {@linkcode tuneMatmuls}).
 *
 * @example
 * ```ts ignore
 * console.table(Object.fromEntries(matmulTunings(gpu)));
 * ```
 */
export function matmulTunings(gpu: Gpu): Map<string, MatmulKernel> {
  return new Map(state(gpu).chosen);
}

/**
 * Installs kernel choices (as saved from {@linkcode matmulTunings}), e.g. a resumed run's, so it
 * computes with the kernels its first session chose. Unknown kernel names are refused.
 *
 * @example
 * ```ts ignore
 * setMatmulTunings(gpu, Object.entries(JSON.parse(await Deno.readTextFile("tuning.json"))));
 * ```
 */
export function setMatmulTunings(
  gpu: Gpu,
  entries: Iterable<readonly [string, string]>,
): void {
  const st = state(gpu);
  for (const [key, kernel] of entries) {
    if (!(MATMUL_KERNELS as readonly string[]).includes(kernel)) {
      throw new RangeError(`matmul tuning "${key}": unknown kernel "${kernel}"`);
    }
    st.chosen.set(key, kernel as MatmulKernel);
    st.pending.delete(key);
  }
}
