/**
 * K-Means tokens for MPM: fitting K centroids (up to 16384) to normalised particle features on
 * the GPU, saving and loading them, and the pre-training task that predicts each dropped
 * particle's nearest centroid.
 *
 * @module
 */
import * as ops from "../autograd/ops.ts";
import type { ParameterStore } from "../autograd/parameters.ts";
import type { Tape } from "../autograd/tape.ts";
import { Rng } from "../data/rng.ts";
import { writeAtomic } from "../io/files.ts";
import { type Preprocessor, preprocessorFromJson } from "../data/preprocess.ts";
import type { Gpu } from "../gpu/gpu.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { kmeansAssign, kmeansUpdate } from "../kernels/kmeans.ts";
import type { InitRng } from "../nn/init.ts";
import { Linear } from "../nn/layers.ts";
import type { StepInputs } from "./prepare.ts";
import { droppedFeatures, type MPMPassOutput } from "./model.ts";
import { defineTask, droppedValid, type PretrainTask, type PretrainTaskDef } from "./tasks.ts";

/** Options of {@linkcode fitKMeans}. */
export interface KMeansOptions {
  /** Number of centroids. */
  k: number;
  /** `kmeans++` (default; on a subsample of at most 20 000 points) or `random` points. */
  init?: "kmeans++" | "random";
  /** Iteration cap. Default 100. */
  maxIter?: number;
  /** Stop when the relative decrease of the inertia falls below this. Default 1e-4. */
  tol?: number;
  /** Seed. Default 0. */
  seed?: number;
  /** Called after each iteration. */
  onIter?: (iter: number, inertia: number) => void;
}

/** A fitted codebook. */
export interface KMeansResult {
  /** (k, dim) centroids. */
  centroids: Float32Array;
  /** Feature width. */
  dim: number;
  /** Iterations run. */
  iters: number;
  /** Final mean squared distance to the nearest centroid. */
  inertia: number;
}

function initCentroids(x: Float32Array, n: number, dim: number, o: KMeansOptions): Float32Array {
  const r = new Rng(o.seed ?? 0, 0x6b6d);
  const c = new Float32Array(o.k * dim);
  if ((o.init ?? "kmeans++") === "random") {
    for (let j = 0; j < o.k; j++) {
      const i = Math.floor(r.u() * n);
      c.set(x.subarray(i * dim, (i + 1) * dim), j * dim);
    }
    return c;
  }
  // k-means++ on a subsample.
  const m = Math.min(n, 20000), sub = Int32Array.from({ length: m }, () => Math.floor(r.u() * n));
  const d2 = new Float64Array(m).fill(Infinity);
  let pick = sub[0];
  for (let j = 0; j < o.k; j++) {
    c.set(x.subarray(pick * dim, pick * dim + dim), j * dim);
    let total = 0;
    for (let q = 0; q < m; q++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += (x[sub[q] * dim + d] - c[j * dim + d]) ** 2;
      if (s < d2[q]) d2[q] = s;
      total += d2[q];
    }
    let t = r.u() * total, q = 0;
    while (q < m - 1 && (t -= d2[q]) > 0) q++;
    pick = sub[q];
  }
  return c;
}

/**
 * Fits K-Means on the GPU: assignment and update kernels, with a counting sort of the
 * assignment on the host between them (deterministic sums).
 *
 * @example
 * ```ts ignore
 * const { centroids } = await fitKMeans(gpu, points, 7, { k: 512, seed: 1 });
 * ```
 */
export async function fitKMeans(
  gpu: Gpu,
  x: Float32Array,
  dim: number,
  o: KMeansOptions,
): Promise<KMeansResult> {
  const n = x.length / dim;
  if (n < o.k) throw new RangeError(`K-Means: ${n} points for ${o.k} centroids`);
  const X = gpu.upload(x, [n, dim]);
  let C = gpu.upload(initCentroids(x, n, dim, o), [o.k, dim]);
  let prev = Infinity, inertia = Infinity, it = 0;
  const maxIter = o.maxIter ?? 100, tol = o.tol ?? 1e-4;
  for (it = 1; it <= maxIter; it++) {
    const { assign, dist } = kmeansAssign(X, C);
    const a = await assign.read() as Int32Array, d = await dist.read() as Float32Array;
    inertia = d.reduce((s, v) => s + v, 0) / n;
    const counts = new Uint32Array(o.k + 1);
    for (let i = 0; i < n; i++) counts[a[i] + 1]++;
    for (let j = 0; j < o.k; j++) counts[j + 1] += counts[j];
    const fill = counts.slice(0, o.k), order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[fill[a[i]]++] = i;
    const [O, Off] = [gpu.upload(order), gpu.upload(counts)];
    const next = kmeansUpdate(X, C, O, Off);
    for (const t of [assign, dist, O, Off, C]) t.dispose();
    C = next;
    o.onIter?.(it, inertia);
    // The first pass has no previous inertia to compare with (Infinity - x <= tol * Infinity).
    if (Number.isFinite(prev) && prev - inertia <= tol * prev) break;
    prev = inertia;
  }
  const centroids = await C.read() as Float32Array;
  X.dispose();
  C.dispose();
  return { centroids, dim, iters: Math.min(it, maxIter), inertia };
}

/**
 * Writes a codebook as JSON: the feature names and preprocessing it was fitted in (a codebook
 * only means something in that preprocessing), and the centroids.
 */
export async function saveCodebook(
  path: string,
  r: KMeansResult,
  features: readonly string[],
  preprocessor?: Preprocessor,
): Promise<void> {
  await writeAtomic(
    path,
    JSON.stringify({
      format: "mpm-webgpu-kmeans/1",
      features,
      k: r.centroids.length / r.dim,
      dim: r.dim,
      iters: r.iters,
      inertia: r.inertia,
      preprocessor: preprocessor?.toJSON(),
      centroids: Array.from(r.centroids),
    }),
  );
}

/** Reads a codebook written by {@linkcode saveCodebook}. */
export async function loadCodebook(
  path: string,
): Promise<
  {
    features: string[];
    k: number;
    dim: number;
    centroids: Float32Array;
    preprocessor?: Preprocessor;
  }
> {
  let j;
  try {
    j = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new Error(
      `${path}: cannot read the K-Means codebook (${
        (e as Error).message
      }); create it with \`deno task kmeans\``,
    );
  }
  if (j.format !== "mpm-webgpu-kmeans/1") throw new Error(`${path}: not a K-Means codebook`);
  return {
    features: j.features,
    k: j.k,
    dim: j.dim,
    centroids: Float32Array.from(j.centroids),
    preprocessor: j.preprocessor ? preprocessorFromJson(j.preprocessor) : undefined,
  };
}

/**
 * K-Means token prediction: the target of each dropped particle is its nearest centroid
 * (computed on the GPU each step); head Linear(D -> K), cross-entropy with label smoothing 0.1.
 *
 * @example
 * ```ts ignore
 * const task = new KMeansTask(store, rng, 32, gpu.upload(centroids, [512, 7]));
 * ```
 */
export class KMeansTask implements PretrainTask {
  readonly name = "kmeans";
  readonly weight: number;
  /** The head. */
  readonly head: Linear;
  /** (K, F) centroids in normalised feature space. */
  readonly centroids: Tensor;

  /** Registers `tasks.kmeans.head.*`. */
  constructor(store: ParameterStore, rng: InitRng, dim: number, centroids: Tensor, weight = 1) {
    this.weight = weight;
    this.centroids = centroids;
    this.head = new Linear({ store, rng }, "tasks.kmeans.head", dim, centroids.shape[0]);
  }

  loss(tape: Tape, pass: MPMPassOutput, inp: StepInputs): Tensor {
    const { assign, dist } = kmeansAssign(inp.xDrop, this.centroids);
    tape.keep(assign);
    tape.keep(dist);
    const logits = this.head.forward(tape, droppedFeatures(pass, this.name));
    return ops.crossEntropy(tape, logits, assign, {
      labelSmoothing: 0.1,
      valid: droppedValid(tape, inp),
    });
  }
}

/** `--tasks kmeans --kmeans CODEBOOK.json`. */
export const KMEANS_TASK: PretrainTaskDef = defineTask<{ weight: number; codebook: string }>({
  name: "kmeans",
  summary: "nearest K-Means centroid of each dropped particle (CE); needs --kmeans",
  objectives: ["mae", "bert"],
  requires: {
    key: "codebook",
    flag: "--kmeans CODEBOOK.json",
    how: "fit one with `deno task kmeans`",
  },
  defaults: () => ({ weight: 1, codebook: "" }),
  async build(ctx, s) {
    const cb = await loadCodebook(s.codebook);
    if (cb.features.join() !== ctx.config.features.join()) {
      throw new Error(
        `${s.codebook}: codebook fitted on [${cb.features}], the model uses [${ctx.config.features}]; re-run \`deno task kmeans\``,
      );
    }
    if (
      cb.preprocessor &&
      JSON.stringify(cb.preprocessor.toJSON()) !== JSON.stringify(ctx.preprocessor.toJSON())
    ) {
      throw new Error(
        `${s.codebook}: the codebook was fitted in another preprocessing than this run's; pre-train with its preprocessing (deno task pretrain picks it up from --kmeans unless --preprocessor is given), or fit the codebook again`,
      );
    }
    const centroids = ctx.gpu.upload(cb.centroids, [cb.k, cb.dim]);
    return new KMeansTask(ctx.store, ctx.rng, ctx.model.headDim, centroids, s.weight);
  },
});
