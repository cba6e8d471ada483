/**
 * Jet completion report for generative pre-training heads: the dropped particles of a batch are
 * replaced by generated ones (and, as a baseline, by features drawn independently from the
 * dropped particles' marginals); jet observables of both are compared with the real jets by
 * 1-Wasserstein distances and side-by-side histograms.
 *
 * @module
 */
import type { JetBatch } from "../data/loader.ts";
import type { Preprocessor } from "../data/preprocess.ts";
import { Rng } from "../data/rng.ts";
import { jetObservables, marginalBaseline, wasserstein1 } from "../eval/generation.ts";
import { histogram, histogramSvg } from "../eval/plots.ts";
import { writeAtomic } from "../io/files.ts";

/** W1 to the real jets, for the generator and the marginal baseline, per observable. */
export type CompletionReport = Record<string, { model: number; baseline: number }>;

const OBSERVABLES = [
  ["mass", "jet mass [GeV]"],
  ["leadingPtShare", "leading-particle pT share"],
  ["width", "pT-weighted width"],
] as const;

/**
 * Builds the completed jets and writes `<plots>/<label>_jet_<observable>.svg`; returns the W1
 * distances. `batch` is the (trimmed) batch whose slots `slots[m]` (b * N + n) were dropped,
 * `gen` and `truth` the generated and true normalised features (M, F) of those particles.
 * Returns null when the features lack pt, deta or dphi.
 *
 * @example
 * ```ts ignore
 * const rep = await completionReport({ label: "CNF", batch, slots, gen, truth, preprocessor, plots: "run/plots", seed: 1 });
 * ```
 */
export async function completionReport(o: {
  label: string;
  batch: JetBatch;
  slots: ArrayLike<number>;
  gen: Float32Array;
  truth: Float32Array;
  preprocessor: Preprocessor;
  plots: string;
  seed: number;
}): Promise<CompletionReport | null> {
  const { batch, slots } = o, F = batch.features.length, M = slots.length;
  if (!["pt", "deta", "dphi"].every((f) => batch.features.includes(f)) || !M) return null;
  if (o.preprocessor.features.join() !== batch.features.join()) return null;
  const base = marginalBaseline(
    o.truth,
    F,
    M,
    (() => {
      const r = new Rng(o.seed ^ 0x62617365, 0);
      return () => r.u();
    })(),
  );
  const observe = (x: ArrayLike<number>) =>
    jetObservables({
      n: batch.size,
      nParticles: batch.nParticles,
      features: batch.features,
      x,
      valid: batch.valid,
    });
  const fill = (norm: Float32Array) => {
    const x = Float32Array.from(batch.raw);
    for (let m = 0; m < M; m++) {
      for (let f = 0; f < F; f++) x[slots[m] * F + f] = o.preprocessor.inverse(f, norm[m * F + f]);
    }
    return observe(x);
  };
  const real = observe(batch.raw);
  const model = fill(o.gen), baseline = fill(base);
  const out: CompletionReport = {};
  for (const [key, title] of OBSERVABLES) {
    out[key] = {
      model: wasserstein1(model[key], real[key]),
      baseline: wasserstein1(baseline[key], real[key]),
    };
    const all = [...real[key], ...model[key], ...baseline[key]];
    const lo = Math.min(...all), hi = Math.max(...all) + 1e-9;
    const hs = [real[key], model[key], baseline[key]].map((v) => histogram(v, 30, lo, hi, true));
    await writeAtomic(
      `${o.plots}/${o.label.toLowerCase()}_jet_${key}.svg`,
      histogramSvg(hs[0].edges, [
        { label: "real", y: hs[0].counts },
        { label: `${o.label} completion`, y: hs[1].counts },
        { label: "marginals", y: hs[2].counts },
      ], {
        title: `${o.label} jet completion: ${title} (${real[key].length} jets)`,
        xLabel: title,
        yLabel: "density",
      }),
    );
  }
  return out;
}
