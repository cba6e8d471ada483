/**
 * The tables of a `deno task study`: per curve and labelled-set size the mean and spread of the
 * test metric and of the best validation loss (what a configuration is chosen on), and each
 * pre-trained curve paired with `scratch` run for run (same size, seed and labelled subset),
 * which is how a gain smaller than the seed spread can still be told from noise. Pure functions
 * of the finished runs.
 *
 * @module
 */

/** What the tables read from one finished run. */
export interface StudyRunValues {
  /** Curve name (`scratch` is the baseline). */
  curve: string;
  /** Labelled jets. */
  n: number;
  /** Seed. */
  seed: number;
  /** The task's headline test metric (higher is better). */
  value: number;
  /** The run's other metrics; `best_val_loss` is read when present. */
  metrics: Record<string, number>;
}

/** Mean and spread of one curve at one size. */
export interface StudySummaryRow {
  /** Curve name. */
  curve: string;
  /** Labelled jets. */
  n: number;
  /** Mean of the test metric over seeds. */
  mean: number;
  /** Its sample standard deviation (0 for one run). */
  std: number;
  /** Mean best validation loss over seeds (NaN where no run validated). */
  valLoss: number;
  /** Its sample standard deviation. */
  valLossStd: number;
  /** Runs (seeds) in the point. */
  runs: number;
}

/** One pre-trained curve against scratch at one size, over the seeds both ran. */
export interface PairedRow {
  /** Curve name. */
  curve: string;
  /** Labelled jets. */
  n: number;
  /** Mean of (curve - scratch) of the test metric. */
  mean: number;
  /** Sample standard deviation of those differences (NaN for one pair). */
  std: number;
  /** Paired t statistic, mean / (std / sqrt(pairs)) (NaN for one pair). */
  t: number;
  /** Pairs (seeds both curves ran). */
  pairs: number;
  /** Pairs in which the curve's metric is above scratch's. */
  ahead: number;
}

/**
 * Mean and sample standard deviation of the finite values.
 *
 * @param v values
 * @returns mean, standard deviation (0 for fewer than two values) and the count used
 * @example
 * ```ts
 * import { meanStd } from "@mpm/webgpu/train";
 * const s = meanStd([1, 2, NaN, 3]);
 * console.assert(s.mean === 2 && s.std === 1 && s.runs === 3);
 * ```
 */
export function meanStd(v: readonly number[]): { mean: number; std: number; runs: number } {
  const x = v.filter(Number.isFinite);
  const mean = x.length ? x.reduce((a, b) => a + b, 0) / x.length : NaN;
  const std = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(x.length - 1, 1));
  return { mean, std, runs: x.length };
}

/**
 * Mean and spread of the test metric and of the best validation loss per curve and size, in the
 * order the curves first appear and sizes ascending.
 *
 * @param rows finished runs
 * @returns one row per (curve, size) with at least one run
 * @example
 * ```ts
 * import { studySummary } from "@mpm/webgpu/train";
 * const run = (seed: number, value: number, loss: number) =>
 *   ({ curve: "scratch", n: 100, seed, value, metrics: { best_val_loss: loss } });
 * const [s] = studySummary([run(0, 0.5, 1.0), run(1, 0.7, 0.8)]);
 * console.assert(Math.abs(s.mean - 0.6) < 1e-12 && Math.abs(s.valLoss - 0.9) < 1e-12);
 * ```
 */
export function studySummary(rows: readonly StudyRunValues[]): StudySummaryRow[] {
  const curves = [...new Set(rows.map((r) => r.curve))];
  const sizes = [...new Set(rows.map((r) => r.n))].sort((a, b) => a - b);
  return curves.flatMap((curve) =>
    sizes.flatMap((n) => {
      const at = rows.filter((r) => r.curve === curve && r.n === n);
      if (!at.length) return [];
      const m = meanStd(at.map((r) => r.value));
      const v = meanStd(at.map((r) => r.metrics.best_val_loss ?? NaN));
      return [{
        curve,
        n,
        mean: m.mean,
        std: m.std,
        valLoss: v.mean,
        valLossStd: v.std,
        runs: m.runs,
      }];
    })
  );
}

/**
 * Every curve other than `scratch` paired with `scratch` run for run: the difference of the test
 * metric at the same size and seed (the same labelled subset), its mean, spread, paired t and how
 * many pairs the curve is ahead in. Empty when the study has no scratch curve.
 *
 * @param rows finished runs
 * @returns one row per (curve, size) with at least one pair
 * @example
 * ```ts
 * import { pairedAgainstScratch } from "@mpm/webgpu/train";
 * const r = (curve: string, seed: number, value: number) => ({ curve, n: 1000, seed, value, metrics: {} });
 * const [p] = pairedAgainstScratch([r("scratch", 0, 0.30), r("mpm", 0, 0.32), r("scratch", 1, 0.40), r("mpm", 1, 0.41)]);
 * console.assert(p.pairs === 2 && p.ahead === 2 && Math.abs(p.mean - 0.015) < 1e-12);
 * ```
 */
export function pairedAgainstScratch(rows: readonly StudyRunValues[]): PairedRow[] {
  const base = new Map(
    rows.filter((r) => r.curve === "scratch").map((r) => [`${r.n}/${r.seed}`, r.value]),
  );
  if (!base.size) return [];
  const curves = [...new Set(rows.map((r) => r.curve))].filter((c) => c !== "scratch");
  const sizes = [...new Set(rows.map((r) => r.n))].sort((a, b) => a - b);
  return curves.flatMap((curve) =>
    sizes.flatMap((n) => {
      const d = rows
        .filter((r) => r.curve === curve && r.n === n && base.has(`${n}/${r.seed}`))
        .map((r) => r.value - base.get(`${n}/${r.seed}`)!)
        .filter(Number.isFinite);
      if (!d.length) return [];
      const { mean, std } = meanStd(d);
      const spread = d.length > 1 ? std : NaN;
      return [{
        curve,
        n,
        mean,
        std: spread,
        t: mean / (spread / Math.sqrt(d.length)),
        pairs: d.length,
        ahead: d.filter((x) => x > 0).length,
      }];
    })
  );
}
