/**
 * Whole-jet generation with a set-to-set flow-matching run: load the run, generate jets of given
 * multiplicities (everything dropped: the encoder sees its registers only), map them back to
 * physical units, write them to HDF5, and compare them with held-out real jets — per-feature
 * 1-Wasserstein distances, jet observables (mass, multiplicity, pT sharing, width) and particle
 * type fractions — next to a baseline that draws every feature independently from its marginal.
 *
 * @module
 */
import { ParameterStore } from "../autograd/parameters.ts";
import { Rng } from "../data/rng.ts";
import { JetFileWriter } from "../data/hdf5.ts";
import { type JetBatch, JetLoader } from "../data/loader.ts";
import { loadPreprocessor, type Preprocessor } from "../data/preprocess.ts";
import { loadWeights, readWeights } from "../autograd/weights.ts";
import type { JetBlock } from "../data/types.ts";
import { marginalBaseline } from "../eval/generation.ts";
import type { Gpu } from "../gpu/gpu.ts";
import type { MPMConfig } from "../mpm/config.ts";
import { MPMModel } from "../mpm/model.ts";
import { savedTimeEmbedding, ssfmOptions, SSFMTask } from "../mpm/ssfm.ts";
import { InitRng } from "../nn/init.ts";

/** A loaded SSFM run. */
export interface SSFMRun {
  /** Its configuration. */
  config: MPMConfig;
  /** The model (its backbone encodes the visible particles). */
  model: MPMModel;
  /** The generative decoder. */
  ssfm: SSFMTask;
  /** Feature preprocessing of the run. */
  preprocessor: Preprocessor;
}

/**
 * Loads `config.json`, `model.safetensors` and `preprocessor.json` of a `--tasks ssfm` run.
 *
 * @example
 * ```ts ignore
 * const run = await loadSSFMRun(gpu, "run-ssfm");
 * ```
 */
export async function loadSSFMRun(gpu: Gpu, dir: string): Promise<SSFMRun> {
  let config: MPMConfig;
  try {
    config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  } catch (e) {
    throw new Error(
      `${dir}/config.json: cannot read the run (${
        (e as Error).message
      }); pass a folder written by \`deno task pretrain --tasks ssfm\``,
    );
  }
  if (config.objective !== "ssfm" || !config.tasks?.ssfm) {
    throw new Error(
      `${dir}: a '${config.objective}' run has no generative decoder; generate with a run of \`deno task pretrain --tasks ssfm\``,
    );
  }
  const weights = await readWeights(`${dir}/model.safetensors`, {
    fix: "the run has no checkpoint yet",
  });
  // A run saved before the reference time embedding became the default keeps its own.
  config = savedTimeEmbedding(config, weights.tensors.keys());
  const store = new ParameterStore(gpu);
  const model = new MPMModel(store, config);
  const ssfm = new SSFMTask(store, new InitRng(0), ssfmOptions(config));
  store.finalize();
  loadWeights(store, weights, { fix: "the weights do not match the run's config.json" });
  return { config, model, ssfm, preprocessor: await loadPreprocessor(`${dir}/preprocessor.json`) };
}

/** Options of {@linkcode generateJets}. */
export interface GenerateOptions {
  /** The loaded run. */
  run: SSFMRun;
  /** Jets to generate. */
  jets: number;
  /** Particles per jet: a number, or an array (cycled) of multiplicities. */
  multiplicity: number | Int32Array;
  /** Midpoint steps. Default: the run's `sampleSteps` (50). */
  steps?: number;
  /** Seed of the noise. Default 0. */
  seed?: number;
  /** Jets per generation batch. Default 256. */
  batch?: number;
  /** HDF5 output (written atomically). */
  out?: string;
  /** Progress callback (jets done). */
  onProgress?: (done: number) => void;
}

/**
 * Generates jets in physical units (particles sorted by decreasing pT; impact parameters of
 * neutral types set to 0, as in the data) and optionally writes them to HDF5.
 *
 * @example
 * ```ts ignore
 * const { block, seconds } = await generateJets({ run, jets: 1000, multiplicity: 40, out: "gen.h5" });
 * ```
 */
export async function generateJets(
  o: GenerateOptions,
): Promise<{ block: JetBlock; seconds: number }> {
  const { config, model, ssfm, preprocessor: pre } = o.run;
  const F = config.features.length, P = config.maxParticles, n = o.jets;
  const mult = typeof o.multiplicity === "number"
    ? new Int32Array([o.multiplicity])
    : o.multiplicity;
  if (!(n >= 1)) throw new RangeError(`generate: --jets must be >= 1, got ${n}`);
  for (const m of mult) {
    if (!(m >= 1 && m <= P)) {
      throw new RangeError(
        `generate: multiplicity ${m} outside 1..${P} (the model's particle limit, maxParticles)`,
      );
    }
  }
  const csts = new Float32Array(n * P * F),
    ids = new Int32Array(n * P),
    valid = new Uint8Array(n * P);
  const ipCols = ["d0", "d0err", "dz", "dzerr"].map((f) => config.features.indexOf(f)).filter((c) =>
    c >= 0
  );
  const pt = config.features.indexOf("pt");
  const B = o.batch ?? 256, t0 = performance.now();
  for (let s = 0; s < n; s += B) {
    const b = Math.min(B, n - s);
    const m = Int32Array.from({ length: b }, (_, j) => mult[(s + j) % mult.length]);
    const g = await ssfm.generate(model.backbone, m, {
      steps: o.steps ?? config.tasks.ssfm?.sampleSteps ?? 50,
      seed: o.seed ?? 0,
      stream: s,
    });
    const Nd = g.sets.Nd;
    for (let j = 0; j < b; j++) {
      const rows = Array.from({ length: m[j] }, (_, k) => j * Nd + k);
      const phys = rows.map((r) => {
        const v = Array.from({ length: F }, (_, c) => pre.inverse(c, g.x[r * F + c]));
        const id = config.useIds ? g.ids[r] : 0;
        if (config.useIds && (id === 0 || id === 2)) { for (const c of ipCols) v[c] = 0; }
        return { v, id };
      });
      if (pt >= 0) phys.sort((a, c) => c.v[pt] - a.v[pt]);
      phys.forEach((p, k) => {
        const slot = (s + j) * P + k;
        csts.set(p.v, slot * F);
        ids[slot] = p.id;
        valid[slot] = 1;
      });
    }
    o.onProgress?.(s + b);
  }
  const seconds = (performance.now() - t0) / 1000;
  const block: JetBlock = {
    n,
    nParticles: P,
    features: config.features,
    csts,
    ids: config.useIds ? ids : undefined,
    valid,
  };
  if (o.out) {
    const w = JetFileWriter.create(o.out, {
      nParticles: P,
      features: config.features,
      ids: config.useIds,
      labels: false,
      jets: false,
    });
    try {
      w.append(block);
      w.close();
    } catch (e) {
      w.abort();
      throw e;
    }
  }
  return { block, seconds };
}

/**
 * The first `n` jets of `files` (a split) in physical units, with their particle types.
 *
 * @example
 * ```ts ignore
 * const real = readRealJets(["jets.h5"], { split: "test", n: 1000, features, maxParticles: 128 });
 * ```
 */
export function readRealJets(
  files: readonly string[],
  o: {
    split: "train" | "val" | "test";
    n: number;
    features: readonly string[];
    maxParticles: number;
    /** Skip and count bad jets instead of stopping. */
    skipBadJets?: boolean;
  },
): JetBlock {
  const loader = new JetLoader({
    files,
    batchSize: Math.min(o.n, 1024),
    split: o.split,
    features: o.features,
    maxParticles: o.maxParticles,
    truncate: true,
    onBadJet: o.skipBadJets ? "skip" : "error",
    shuffle: false,
    loop: false,
    dropLast: false,
    maxJets: o.n,
  });
  const F = o.features.length, P = o.maxParticles, parts: JetBatch[] = [];
  let n = 0;
  for (let b = loader.next(); b && n < o.n; b = loader.next()) {
    parts.push(b);
    n += b.size;
  }
  loader.close();
  n = Math.min(n, o.n);
  const block: JetBlock = {
    n,
    nParticles: P,
    features: o.features,
    csts: new Float32Array(n * P * F),
    ids: new Int32Array(n * P),
    valid: new Uint8Array(n * P),
  };
  let j = 0;
  for (const b of parts) {
    const N = b.nParticles;
    for (let k = 0; k < b.size && j < n; k++, j++) {
      for (let p = 0; p < Math.min(N, P); p++) {
        if (!b.valid[k * N + p]) continue;
        block.valid[j * P + p] = 1;
        block.ids![j * P + p] = b.ids[k * N + p];
        block.csts.set(b.raw.subarray((k * N + p) * F, (k * N + p + 1) * F), (j * P + p) * F);
      }
    }
  }
  if (!n) throw new Error(`no jets in the ${o.split} split of [${files}]`);
  return block;
}

/**
 * Number of real particles of each jet.
 *
 * @example
 * ```ts
 * import { multiplicities } from "@mpm/webgpu/train";
 * const m = multiplicities({ n: 2, nParticles: 3, features: ["pt"], csts: new Float32Array(6), valid: new Uint8Array([1, 1, 0, 1, 0, 0]) });
 * console.assert(m.join() === "2,1");
 * ```
 */
export function multiplicities(block: JetBlock): Int32Array {
  const out = new Int32Array(block.n), P = block.nParticles;
  for (let j = 0; j < block.n; j++) {
    for (let p = 0; p < P; p++) out[j] += block.valid[j * P + p] ? 1 : 0;
  }
  return out;
}

/**
 * The marginal baseline for whole jets: `like`'s jets (same multiplicities) with every feature
 * of every particle, and the type, drawn independently from the particles of `pool`.
 *
 * @example
 * ```ts ignore
 * const baseline = marginalJets(generated, trainingJets, 0);
 * ```
 */
export function marginalJets(like: JetBlock, pool: JetBlock, seed: number): JetBlock {
  const F = pool.features.length, P = pool.nParticles;
  const rows: number[] = [];
  for (let i = 0; i < pool.n * P; i++) if (pool.valid[i]) rows.push(i);
  const flat = new Float32Array(rows.length * F), idPool = new Int32Array(rows.length);
  rows.forEach((i, k) => {
    flat.set(pool.csts.subarray(i * F, (i + 1) * F), k * F);
    idPool[k] = pool.ids?.[i] ?? 0;
  });
  const r = new Rng(seed ^ 0x62617365, 1);
  const Q = like.nParticles, slots: number[] = [];
  for (let i = 0; i < like.n * Q; i++) if (like.valid[i]) slots.push(i);
  const drawn = marginalBaseline(flat, F, slots.length, () => r.u());
  const out: JetBlock = {
    ...like,
    csts: new Float32Array(like.n * Q * F),
    ids: new Int32Array(like.n * Q),
  };
  slots.forEach((i, k) => {
    out.csts.set(drawn.subarray(k * F, (k + 1) * F), i * F);
    out.ids![i] = idPool[Math.floor(r.u() * idPool.length)];
  });
  return out;
}
