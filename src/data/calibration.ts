/**
 * Distances between a sample's marginals and reference quantile tables, in normal-score
 * units: for each reference quantile q_k at level r_k, the sample's CDF F(q_k) is mapped to
 * Φ⁻¹(F(q_k)) and compared with Φ⁻¹(r_k). A distance of 0.1 means the sample's quantile sits
 * 0.1 standard deviations (of a normal with the same quantiles) away from the reference.
 *
 * @module
 */
import type { JetBlock } from "./types.ts";

/** Inverse standard-normal CDF (Acklam's rational approximation, |error| < 1.2e-9 after refinement). */
export function normalQuantile(p: number): number {
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  const a = [
    -39.69683028665376,
    220.9460984245205,
    -275.9285104469687,
    138.357751867269,
    -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406,
    161.5858368580409,
    -155.6989798598866,
    66.80131188771972,
    -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293,
    -0.3223964580411365,
    -2.400758277161838,
    -2.549732539343734,
    4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const pl = 0.02425;
  let x: number;
  if (p < pl) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - pl) {
    const q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
      (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // One Halley step on erfc for full double precision.
  const e = 0.5 * erfc(-x / Math.SQRT2) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

/** Complementary error function (Numerical Recipes erfcc, |relative error| < 1.2e-7). */
export function erfc(x: number): number {
  const z = Math.abs(x), t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(
    -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
                  t *
                    (-0.18628806 +
                      t *
                        (0.27886807 +
                          t *
                            (-1.13520398 +
                              t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
  );
  return x >= 0 ? r : 2 - r;
}

/** A quantile table: column names and, per column, `levels.length` quantiles. */
export interface QuantileTable {
  /** Column names. */
  names: string[];
  /** Quantile levels r_k in [0, 1]. */
  levels: number[];
  /** values[col][k] = quantile of column `col` at level r_k. */
  values: number[][];
}

/**
 * Parses a quantile CSV: first line `# name,name,... ; ...`, then one row per level (levels
 * equally spaced in [0, 1]).
 *
 * @example
 * ```ts
 * import { parseQuantileCsv } from "@mpm/webgpu/data";
 * const t = parseQuantileCsv("# a,b ; x\n0,1\n1,3\n");
 * console.assert(t.values[1][1] === 3 && t.levels[1] === 1);
 * ```
 */
export function parseQuantileCsv(text: string): QuantileTable {
  const lines = text.trim().split(/\r?\n/);
  const names = lines[0].replace(/^#\s*/, "").split(";")[0].trim().split(",");
  const rows = lines.slice(1).map((l) => l.split(",").map(Number));
  return {
    names,
    levels: rows.map((_, k) => k / (rows.length - 1)),
    values: names.map((_, c) => rows.map((r) => r[c])),
  };
}

/**
 * Maximum normal-score distance between a sample and one reference column over quantile levels
 * in [lo, hi] (default 1 %-99 %).
 *
 * @example
 * ```ts
 * import { normalScoreDistance } from "@mpm/webgpu/data";
 * const sample = Float64Array.from({ length: 1000 }, (_, i) => (i + 0.5) / 1000);
 * const ref = Array.from({ length: 101 }, (_, k) => k / 100);
 * console.assert(normalScoreDistance(sample, ref, ref.map((_, k) => k / 100)) < 0.01);
 * ```
 */
export function normalScoreDistance(
  sample: ArrayLike<number>,
  refValues: readonly number[],
  levels: readonly number[],
  lo = 0.01,
  hi = 0.99,
): number {
  const s = Float64Array.from(sample).sort();
  const n = s.length;
  let worst = 0;
  for (let k = 0; k < levels.length; k++) {
    if (levels[k] < lo || levels[k] > hi) continue;
    const q = refValues[k];
    // Mid-rank CDF of the sample at q (ties split evenly).
    let a = 0, b = n;
    while (a < b) {
      const m = (a + b) >> 1;
      if (s[m] < q) a = m + 1;
      else b = m;
    }
    let c = a;
    while (c < n && s[c] === q) c++;
    const f = Math.min(Math.max((a + c) / 2 / n, 0.5 / n), 1 - 0.5 / n);
    worst = Math.max(worst, Math.abs(normalQuantile(f) - normalQuantile(levels[k])));
  }
  return worst;
}

/**
 * Per-feature normal-score distances of a block's constituent marginals to a reference table
 * with columns pt, deta, dphi, d0, d0err, dz, dzerr. Impact-parameter columns use charged
 * particles only (ids other than 0 and 2), as the reference quantiles do.
 *
 * @example
 * ```ts ignore
 * const d = constituentDistances(synthJetClass(20000), table); // { pt: 0.08, ... }
 * ```
 */
export function constituentDistances(
  block: JetBlock,
  table: QuantileTable,
): Record<string, number> {
  const F = block.features.length;
  const out: Record<string, number> = {};
  for (let c = 0; c < Math.min(F, table.names.length); c++) {
    const vals: number[] = [];
    for (let i = 0; i < block.n * block.nParticles; i++) {
      if (!block.valid[i]) continue;
      if (c >= 3 && block.ids && (block.ids[i] === 0 || block.ids[i] === 2)) continue;
      vals.push(block.csts[i * F + c]);
    }
    out[table.names[c]] = normalScoreDistance(vals, table.values[c], table.levels);
  }
  return out;
}
