/**
 * Distances between two samples of feature vectors, as the JetNet metrics use them: the Fréchet
 * distance between Gaussian fits (FPD, extrapolated to infinite samples) and the kernel distance
 * (KPD, an unbiased MMD with a quartic polynomial kernel), with jetnet's defaults.
 *
 * @module
 */
import { draw, type MetricValue, seeded } from "./_sampling.ts";

/** Symmetric eigen-decomposition by cyclic Jacobi rotations: values and column vectors. */
function eigenSym(a: Float64Array, d: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a), v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += m[p * d + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = m[p * d + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * d + q] - m[p * d + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = m[k * d + p], akq = m[k * d + q];
          m[k * d + p] = c * akp - s * akq;
          m[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = m[p * d + k], aqk = m[q * d + k];
          m[p * d + k] = c * apk - s * aqk;
          m[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p], vkq = v[k * d + q];
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: d }, (_, i) => m[i * d + i]), vectors: v };
}

function matmul(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const x = a[i * d + k];
      if (x) { for (let j = 0; j < d; j++) out[i * d + j] += x * b[k * d + j]; }
    }
  }
  return out;
}

/**
 * The Fréchet distance between N(μ1, Σ1) and N(μ2, Σ2):
 * |μ1 − μ2|² + tr Σ1 + tr Σ2 − 2 tr (Σ1 Σ2)^½, the trace of the square root taken through the
 * symmetric Σ1^½ Σ2 Σ1^½ (same eigenvalues).
 *
 * @param mu1 mean (d)
 * @param s1 covariance (d × d, row-major)
 * @param mu2 mean
 * @param s2 covariance
 * @returns the squared Fréchet distance
 * @example
 * ```ts
 * import { frechetDistance } from "@mpm/webgpu/eval";
 * // 1-D: (μ1 − μ2)² + (σ1 − σ2)².
 * console.assert(Math.abs(frechetDistance([0], [4], [1], [1]) - 2) < 1e-12);
 * ```
 */
export function frechetDistance(
  mu1: ArrayLike<number>,
  s1: ArrayLike<number>,
  mu2: ArrayLike<number>,
  s2: ArrayLike<number>,
): number {
  const d = mu1.length;
  const e1 = eigenSym(Float64Array.from(s1), d);
  const root = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let x = 0;
      for (let k = 0; k < d; k++) {
        x += e1.vectors[i * d + k] * Math.sqrt(Math.max(e1.values[k], 0)) * e1.vectors[j * d + k];
      }
      root[i * d + j] = x;
    }
  }
  const inner = matmul(matmul(root, Float64Array.from(s2), d), root, d);
  for (let i = 0; i < d; i++) {
    for (let j = i + 1; j < d; j++) {
      const m = 0.5 * (inner[i * d + j] + inner[j * d + i]);
      inner[i * d + j] = inner[j * d + i] = m;
    }
  }
  const trRoot = eigenSym(inner, d).values.reduce((a, l) => a + Math.sqrt(Math.max(l, 0)), 0);
  let diff = 0, tr = 0;
  for (let i = 0; i < d; i++) {
    diff += (mu1[i] - mu2[i]) ** 2;
    tr += s1[i * d + i] + s2[i * d + i];
  }
  return diff + tr - 2 * trRoot;
}

function meanCov(
  x: Float64Array,
  d: number,
  idx: Int32Array,
): { mu: Float64Array; cov: Float64Array } {
  const n = idx.length, mu = new Float64Array(d), cov = new Float64Array(d * d);
  for (const r of idx) for (let a = 0; a < d; a++) mu[a] += x[r * d + a] / n;
  for (const r of idx) {
    for (let a = 0; a < d; a++) {
      const da = x[r * d + a] - mu[a];
      for (let b = a; b < d; b++) cov[a * d + b] += da * (x[r * d + b] - mu[b]);
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) cov[b * d + a] = cov[a * d + b] /= n - 1;
  }
  return { mu, cov };
}

/** Divides every feature by its largest |value| over the real sample (jetnet's normalisation). */
function normalise(real: Float64Array, gen: Float64Array, d: number): [Float64Array, Float64Array] {
  const max = new Float64Array(d);
  for (let i = 0; i < real.length; i++) max[i % d] = Math.max(max[i % d], Math.abs(real[i]));
  for (let a = 0; a < d; a++) if (max[a] === 0) max[a] = 1;
  return [real.map((v, i) => v / max[i % d]), gen.map((v, i) => v / max[i % d])];
}

/** FPD options (jetnet's defaults). */
export interface FpdOptions {
  /** Smallest batch size (20,000). */
  minSamples?: number;
  /** Largest batch size (50,000). */
  maxSamples?: number;
  /** Batches per size (20). */
  batches?: number;
  /** Sizes, evenly spaced in 1/N (10). */
  points?: number;
  /** Divide features by their largest |value| over the real sample (true). */
  normalise?: boolean;
  /** Seed (42). */
  seed?: number;
}

/**
 * FPD: the Fréchet distance between Gaussian fits of real and generated feature vectors,
 * measured at `points` batch sizes evenly spaced in 1/N and extrapolated linearly to 1/N = 0
 * (intercept and slope kept non-negative, as jetnet's bounded fit).
 *
 * @param real (n, d) row-major features of real jets
 * @param gen (m, d) features of generated jets
 * @param d features per jet
 * @param o options
 * @returns the intercept and its standard error
 * @example
 * ```ts ignore
 * import { fpd, jetFeatureVectors, relativeJets } from "@mpm/webgpu/eval";
 * const r = fpd(jetFeatureVectors(relativeJets(real)), jetFeatureVectors(relativeJets(gen)), 4);
 * ```
 */
export function fpd(
  real: Float64Array,
  gen: Float64Array,
  d: number,
  o: FpdOptions = {},
): MetricValue {
  const [X, Y] = o.normalise === false ? [real, gen] : normalise(real, gen, d);
  const nx = X.length / d, ny = Y.length / d, rng = seeded(o.seed ?? 42, 0x667064);
  const lo = o.minSamples ?? 20_000, hi = o.maxSamples ?? 50_000, points = o.points ?? 10;
  const xs: number[] = [], ys: number[] = [];
  for (let k = 0; k < points; k++) {
    const inv = 1 / lo + (points > 1 ? (k / (points - 1)) * (1 / hi - 1 / lo) : 0);
    const size = Math.trunc(1 / inv);
    let sum = 0;
    for (let b = 0; b < (o.batches ?? 20); b++) {
      const a = meanCov(X, d, draw(rng, nx, size)), c = meanCov(Y, d, draw(rng, ny, size));
      sum += frechetDistance(a.mu, a.cov, c.mu, c.cov);
    }
    xs.push(1 / size);
    ys.push(sum / (o.batches ?? 20));
  }
  return nonNegativeLine(xs, ys);
}

/** Least-squares y = a + b x with a, b ≥ 0: the intercept a and its standard error. */
function nonNegativeLine(xs: number[], ys: number[]): MetricValue {
  const n = xs.length;
  const fit = (useA: boolean, useB: boolean) => {
    const mx = xs.reduce((s, v) => s + v, 0) / n, my = ys.reduce((s, v) => s + v, 0) / n;
    let a = 0, b = 0;
    if (useA && useB) {
      let sxy = 0, sxx = 0;
      for (let i = 0; i < n; i++) (sxy += (xs[i] - mx) * (ys[i] - my), sxx += (xs[i] - mx) ** 2);
      b = sxx > 0 ? sxy / sxx : 0;
      a = my - b * mx;
    } else if (useA) a = my;
    else if (useB) {
      let sxy = 0, sxx = 0;
      for (let i = 0; i < n; i++) (sxy += xs[i] * ys[i], sxx += xs[i] ** 2);
      b = sxx > 0 ? sxy / sxx : 0;
    }
    return { a, b };
  };
  let { a, b } = fit(true, true);
  if (b < 0) ({ a, b } = fit(true, false));
  if (a < 0) ({ a, b } = fit(false, true));
  a = Math.max(a, 0);
  b = Math.max(b, 0);
  // Standard error of the intercept of an ordinary least-squares line.
  const mx = xs.reduce((s, v) => s + v, 0) / n;
  const sxx = xs.reduce((s, v) => s + (v - mx) ** 2, 0);
  const rss = xs.reduce((s, v, i) => s + (ys[i] - a - b * v) ** 2, 0);
  const s2 = n > 2 ? rss / (n - 2) : 0;
  const err = sxx > 0 ? Math.sqrt(s2 * (1 / n + (mx * mx) / sxx)) : 0;
  return { value: a, error: err };
}

/**
 * The unbiased quadratic-time MMD² between two samples with the kernel (x·y / d + 1)^4.
 *
 * @param x (n, d) row-major
 * @param y (m, d) row-major
 * @param d features
 * @returns the estimate (may be slightly negative for equal distributions)
 * @example
 * ```ts
 * import { mmdPoly } from "@mpm/webgpu/eval";
 * const x = Float64Array.from([0, 1, 2, 3]), y = Float64Array.from([5, 6, 7, 8]);
 * console.assert(mmdPoly(x, y, 1) > mmdPoly(x, Float64Array.from([0.5, 1.5, 2.5, 3]), 1));
 * ```
 */
export function mmdPoly(x: Float64Array, y: Float64Array, d: number): number {
  const k = (a: Float64Array, i: number, b: Float64Array, j: number) => {
    let dot = 0;
    for (let f = 0; f < d; f++) dot += a[i * d + f] * b[j * d + f];
    return (dot / d + 1) ** 4;
  };
  const n = x.length / d, m = y.length / d;
  let xx = 0, yy = 0, xy = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) xx += 2 * k(x, i, x, j);
  for (let i = 0; i < m; i++) for (let j = i + 1; j < m; j++) yy += 2 * k(y, i, y, j);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) xy += k(x, i, y, j);
  return xx / (n * (n - 1)) + yy / (m * (m - 1)) - (2 * xy) / (n * m);
}

/** KPD options (jetnet's defaults). */
export interface KpdOptions {
  /** Batches (10). */
  batches?: number;
  /** Jets per batch (5,000). */
  batchSize?: number;
  /** Normalise features as FPD (true). */
  normalise?: boolean;
  /** Seed (42). */
  seed?: number;
}

/**
 * KPD: the median over batches of {@linkcode mmdPoly}, with half the 16.275-83.725 % spread as
 * the error.
 *
 * @param real (n, d) row-major features of real jets
 * @param gen (m, d) features of generated jets
 * @param d features per jet
 * @param o options
 * @returns median and error
 * @example
 * ```ts ignore
 * import { jetFeatureVectors, kpd, relativeJets } from "@mpm/webgpu/eval";
 * const r = kpd(jetFeatureVectors(relativeJets(real)), jetFeatureVectors(relativeJets(gen)), 4);
 * ```
 */
export function kpd(
  real: Float64Array,
  gen: Float64Array,
  d: number,
  o: KpdOptions = {},
): MetricValue {
  const [X, Y] = o.normalise === false ? [real, gen] : normalise(real, gen, d);
  const nx = X.length / d, ny = Y.length / d, size = o.batchSize ?? 5000;
  const vals: number[] = [];
  for (let b = 0; b < (o.batches ?? 10); b++) {
    const rng = seeded((o.seed ?? 42) + b * 1000, 0x6b7064);
    const pick = (src: Float64Array, n: number) => {
      const idx = draw(rng, n, size), out = new Float64Array(size * d);
      idx.forEach((r, i) => out.set(src.subarray(r * d, (r + 1) * d), i * d));
      return out;
    };
    vals.push(mmdPoly(pick(X, nx), pick(Y, ny), d));
  }
  const sorted = [...vals].sort((a, b) => a - b);
  const q = (p: number) => {
    const h = (sorted.length - 1) * p, lo = Math.floor(h), hi = Math.ceil(h);
    return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
  };
  return { value: q(0.5), error: (q(0.83725) - q(0.16275)) / 2 };
}
