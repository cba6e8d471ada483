/**
 * How generated jets compare with real ones: per-feature and jet-observable 1-Wasserstein
 * distances with bootstrap errors, next to the marginal baseline, the JetNet metrics, particle
 * type fractions, and the histograms that show them.
 *
 * @module
 */
import type { JetBlock } from "../data/types.ts";
import { writeAtomic } from "../io/files.ts";
import { jetObservables, wasserstein1 } from "../eval/generation.ts";
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
import { SSFM_TYPES } from "../mpm/ssfm.ts";
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
