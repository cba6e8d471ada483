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
import { writeAtomic } from "../io/files.ts";
import type { JetBlock } from "../data/types.ts";
import { jetObservables, marginalBaseline, wasserstein1 } from "../eval/generation.ts";
import {
  fpd,
  jetFeatureVectors,
  kpd,
  type MetricValue,
  relativeJets,
  w1m,
  w1p,
} from "../eval/jetnet_metrics.ts";
import { featureAxisLabel, histogram, histogramSvg } from "../eval/plots.ts";
import type { Gpu } from "../gpu/gpu.ts";
import type { MPMConfig } from "../mpm/config.ts";
import { MPMModel } from "../mpm/model.ts";
import { SSFM_TYPES, ssfmOptions, SSFMTask } from "../mpm/ssfm.ts";
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
  const store = new ParameterStore(gpu);
  const model = new MPMModel(store, config);
  const ssfm = new SSFMTask(store, new InitRng(0), ssfmOptions(config));
  store.finalize();
  loadWeights(
    store,
    await readWeights(`${dir}/model.safetensors`, { fix: "the run has no checkpoint yet" }),
    { fix: "the weights do not match the run's config.json" },
  );
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

/** Generated, baseline and real values of one quantity, and the two W1 distances. */
export interface GenerationMetric {
  /** W1(generated, real). */
  model: number;
  /** W1(marginal baseline, real). */
  baseline: number;
  /** Bootstrap standard deviation of `model` (20 resamples of both samples). */
  model_err?: number;
  /** Bootstrap standard deviation of `baseline`. */
  baseline_err?: number;
}

/**
 * W1 of `a` against `real` with its bootstrap standard deviation (both samples resampled with
 * replacement `reps` times, seeded).
 */
export function w1WithError(
  a: Float64Array,
  real: Float64Array,
  reps = 20,
  seed = 7,
): { value: number; err: number } {
  const value = wasserstein1(a, real);
  let state = (seed * 0x9e3779b1) >>> 0;
  const u = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296);
  const pick = (x: Float64Array) => Float64Array.from(x, () => x[Math.floor(u() * x.length)]);
  const v: number[] = [];
  for (let r = 0; r < reps; r++) v.push(wasserstein1(pick(a), pick(real)));
  const m = v.reduce((s, x) => s + x, 0) / reps;
  return { value, err: Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / (reps - 1)) };
}

/** Model vs baseline W1 with bootstrap errors. */
function compared(
  model: Float64Array,
  baseline: Float64Array,
  real: Float64Array,
): GenerationMetric {
  const m = w1WithError(model, real), b = w1WithError(baseline, real);
  return { model: m.value, baseline: b.value, model_err: m.err, baseline_err: b.err };
}

/**
 * Whether the model's W1 is below the baseline's by more than twice their combined bootstrap
 * error: "better", "worse", or "not distinguishable" (with this many jets).
 *
 * @param m a compared metric
 * @returns the verdict
 * @example
 * ```ts
 * import { verdict } from "@mpm/webgpu/train";
 * console.assert(verdict({ model: 1, baseline: 2, model_err: 0.1, baseline_err: 0.1 }) === "better");
 * console.assert(verdict({ model: 1, baseline: 1.1, model_err: 0.1, baseline_err: 0.1 }) === "not distinguishable");
 * ```
 */
export function verdict(m: GenerationMetric): "better" | "worse" | "not distinguishable" {
  const e = 2 * Math.hypot(m.model_err ?? 0, m.baseline_err ?? 0);
  return m.model < m.baseline - e
    ? "better"
    : m.model > m.baseline + e
    ? "worse"
    : "not distinguishable";
}

/** What {@linkcode generationReport} measures. */
export interface GenerationReport {
  /** Jets compared (generated = baseline = real). */
  jets: number;
  /** Per-feature W1 over all particles, physical units. */
  features: Record<string, GenerationMetric>;
  /** Jet observables (mass, multiplicity, leadingPtShare, width). */
  jet: Record<string, GenerationMetric>;
  /** Particle-type fractions (real, generated, baseline), when the model uses types. */
  types?: { real: number[]; model: number[]; baseline: number[] };
  /**
   * The JetNet metrics in relative coordinates (pTrel = pT / the jet's scalar pT sum): W1M,
   * W1P of ηrel, φrel, pTrel, and FPD / KPD on the library's four jet observables (not on the
   * EFPs of published tables). Each { value, error }.
   */
  jetnet?: Record<"model" | "baseline", Record<string, MetricValue>>;
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

const OBS = [
  ["mass", "jet mass [GeV]"],
  ["multiplicity", "particle multiplicity"],
  ["leadingPtShare", "leading-particle pT share"],
  ["width", "pT-weighted width"],
] as const;

function particleValues(b: JetBlock, c: number): Float64Array {
  const F = b.features.length, out: number[] = [];
  for (let i = 0; i < b.n * b.nParticles; i++) if (b.valid[i]) out.push(b.csts[i * F + c]);
  return Float64Array.from(out);
}

function typeFractions(b: JetBlock): number[] {
  const c = new Array(SSFM_TYPES).fill(0);
  let n = 0;
  for (let i = 0; i < b.n * b.nParticles; i++) {
    if (b.valid[i]) {
      c[b.ids?.[i] ?? 0]++;
      n++;
    }
  }
  return c.map((v) => v / Math.max(n, 1));
}

/** JetNet's W1M, W1P and FPD / KPD of `gen` against `real`, sample sizes capped by the data. */
function jetnetMetrics(real: JetBlock, gen: JetBlock): Record<string, MetricValue> {
  const rel = (b: JetBlock) =>
    relativeJets({
      n: b.n,
      nParticles: b.nParticles,
      features: b.features,
      x: b.csts,
      valid: b.valid,
    });
  const r = rel(real), g = rel(gen), n = Math.max(real.n, gen.n);
  const w = { samples: Math.min(50_000, n), batches: 5 };
  const [eta, phi, pt] = w1p(r, g, w);
  const fr = jetFeatureVectors(r), fg = jetFeatureVectors(g);
  return {
    w1m: w1m(r, g, w),
    w1p_eta: eta,
    w1p_phi: phi,
    w1p_pt: pt,
    fpd: fpd(fr, fg, 4, {
      minSamples: Math.min(20_000, n),
      maxSamples: Math.min(50_000, n),
      batches: 5,
      points: 5,
    }),
    kpd: kpd(fr, fg, 4, { batchSize: Math.min(5000, n), batches: 10 }),
  };
}

/**
 * Compares generated jets with real ones and the marginal baseline; writes
 * `<plots>/generated_<feature>.svg`, `<plots>/generated_jet_<observable>.svg` (real, generated
 * and baseline side by side) when `plots` is given.
 *
 * @example
 * ```ts ignore
 * const rep = await generationReport({ generated, real, baseline, plots: "gen/plots" });
 * ```
 */
export async function generationReport(o: {
  generated: JetBlock;
  real: JetBlock;
  baseline: JetBlock;
  plots?: string;
  label?: string;
}): Promise<GenerationReport> {
  const { generated: g, real, baseline } = o, label = o.label ?? "SSFM";
  const hist = async (
    file: string,
    title: string,
    xLabel: string,
    [r, m, b]: Float64Array[],
  ) => {
    if (!o.plots) return;
    const sorted = Float64Array.from([...r, ...m, ...b]).sort();
    // 0.5 %-99.5 % range of all values: heavy tails do not squash the bulk (the note counts
    // what falls outside); impact parameters, sharply peaked, on a log axis.
    const lo = sorted[Math.floor(0.005 * (sorted.length - 1))],
      hi = sorted[Math.ceil(0.995 * (sorted.length - 1))] + 1e-9;
    const hs = [r, m, b].map((v) => histogram(v, 40, lo, hi, true));
    const peaked = /^(d0|dz|d0err|dzerr)$/.test(file.replace("generated_", ""));
    await writeAtomic(
      `${o.plots}/${file}.svg`,
      histogramSvg(hs[0].edges, [
        { label: "real", y: hs[0].counts },
        { label, y: hs[1].counts },
        { label: "marginals", y: hs[2].counts },
      ], {
        title: `${title} (${g.n} jets)`,
        xLabel,
        yLabel: "density",
        logY: peaked,
      }, hs),
    );
  };
  if (o.plots) await Deno.mkdir(o.plots, { recursive: true });
  const features: Record<string, GenerationMetric> = {};
  for (let c = 0; c < g.features.length; c++) {
    const v = [real, g, baseline].map((b) => particleValues(b, c));
    features[g.features[c]] = compared(v[1], v[2], v[0]);
    await hist(
      `generated_${g.features[c]}`,
      `${label} whole jets: particle ${g.features[c]}`,
      featureAxisLabel(g.features[c]),
      v,
    );
  }
  const jet: Record<string, GenerationMetric> = {};
  if (["pt", "deta", "dphi"].every((f) => g.features.includes(f))) {
    const obs = [real, g, baseline].map((b) =>
      jetObservables({
        n: b.n,
        nParticles: b.nParticles,
        features: b.features,
        x: b.csts,
        valid: b.valid,
      })
    );
    for (const [key, title] of OBS) {
      const v = obs.map((x) => x[key]);
      jet[key] = compared(v[1], v[2], v[0]);
      await hist(`generated_jet_${key}`, `${label} whole jets: ${title}`, title, v);
    }
  }
  const out: GenerationReport = { jets: g.n, features, jet };
  if (["pt", "deta", "dphi"].every((f) => g.features.includes(f))) {
    out.jetnet = { model: jetnetMetrics(real, g), baseline: jetnetMetrics(real, baseline) };
  }
  if (g.ids && real.ids) {
    out.types = {
      real: typeFractions(real),
      model: typeFractions(g),
      baseline: typeFractions(baseline),
    };
  }
  return out;
}
