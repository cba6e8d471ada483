/**
 * The JetNet generation metrics (Kansal et al., arXiv:2106.11535 and arXiv:2211.10295), as the
 * `jetnet` package computes them, so generated jets compare with published generators:
 *
 * - **W1M**: 1-Wasserstein distance between the relative jet masses m / pT_jet;
 * - **W1P**: 1-Wasserstein distances of the particle features ηrel, φrel, pTrel (real particles);
 * - **FPD**: Fréchet distance between Gaussian fits of jet features, extrapolated to infinite
 *   sample size (linear fit in 1/N over 10 sizes, 20 batches each);
 * - **KPD**: unbiased MMD with the quartic polynomial kernel (x·y / d + 1)^4, median
 *   over batches with half the 16-84 % spread as the error.
 *
 * W1M and W1P draw `batches` samples of `samples` jets with replacement and report their mean
 * and standard deviation, as jetnet does. FPD and KPD take any per-jet feature vectors; jetnet
 * publishes them on 36 energy-flow polynomials (energyflow, d ≤ 4), which this library does not
 * compute: {@linkcode jetFeatureVectors} gives the library's four jet observables instead, so
 * those two numbers compare models evaluated here, not with published tables.
 *
 * @module
 */
import { jetObservables, type ParticleSets, wasserstein1 } from "./generation.ts";
import { draw, meanStd, type MetricValue, seeded } from "./_sampling.ts";

export type { MetricValue } from "./_sampling.ts";
export {
  fpd,
  type FpdOptions,
  frechetDistance,
  kpd,
  type KpdOptions,
  mmdPoly,
} from "./sample_distances.ts";

/** Jets in JetNet's relative coordinates: (n, P, 3) [ηrel, φrel, pTrel] and a mask. */
export interface RelativeJets {
  /** Jets. */
  n: number;
  /** Slots per jet. */
  nParticles: number;
  /** (n, nParticles, 3) ηrel, φrel, pTrel. */
  x: Float64Array;
  /** (n, nParticles) 1 for real particles. */
  valid: ArrayLike<number>;
}

/**
 * Jets in relative coordinates from particle sets with `pt`, `deta`, `dphi`: pTrel = pT / the
 * jet's pT (`jetPt`, e.g. the first column of a block's `jets`), else pT / the sum over its
 * particles.
 *
 * @param s particle sets
 * @param jetPt per-jet pT to divide by (optional)
 * @returns the relative jets
 * @example
 * ```ts
 * import { relativeJets } from "@mpm/webgpu/eval";
 * const r = relativeJets({ n: 1, nParticles: 2, features: ["pt", "deta", "dphi"], x: [30, 0.1, 0, 10, 0, 0.2], valid: [1, 1] });
 * console.assert(r.x[2] === 0.75 && r.x[5] === 0.25);
 * ```
 */
export function relativeJets(s: ParticleSets, jetPt?: ArrayLike<number>): RelativeJets {
  const F = s.features.length, P = s.nParticles;
  const [ip, ie, iphi] = ["pt", "deta", "dphi"].map((f) => {
    const i = s.features.indexOf(f);
    if (i < 0) throw new RangeError(`relativeJets: feature "${f}" missing from [${s.features}]`);
    return i;
  });
  const x = new Float64Array(s.n * P * 3);
  for (let j = 0; j < s.n; j++) {
    let sum = 0;
    for (let p = 0; p < P; p++) if (s.valid[j * P + p]) sum += s.x[(j * P + p) * F + ip];
    const norm = jetPt && jetPt[j] > 0 ? jetPt[j] : sum || 1;
    for (let p = 0; p < P; p++) {
      const r = j * P + p;
      if (!s.valid[r]) continue;
      x[r * 3] = s.x[r * F + ie];
      x[r * 3 + 1] = s.x[r * F + iphi];
      x[r * 3 + 2] = s.x[r * F + ip] / norm;
    }
  }
  return { n: s.n, nParticles: P, x, valid: s.valid };
}

/** Sampling options of W1M / W1P. */
export interface W1Options {
  /** Jets per batch, drawn with replacement (jetnet: 50,000). */
  samples?: number;
  /** Batches (jetnet: 5). */
  batches?: number;
  /** Seed. */
  seed?: number;
}

/**
 * Relative masses m / pT_jet of relative jets (massless particles).
 *
 * @param r relative jets
 * @returns one mass per jet
 * @example
 * ```ts
 * import { relativeJets, relativeMasses } from "@mpm/webgpu/eval";
 * const r = relativeJets({ n: 1, nParticles: 2, features: ["pt", "deta", "dphi"], x: [50, 0, 0.1, 50, 0, -0.1], valid: [1, 1] });
 * console.assert(Math.abs(relativeMasses(r)[0] - Math.sin(0.1)) < 1e-12);
 * ```
 */
export function relativeMasses(r: RelativeJets): Float64Array {
  return jetObservables({
    n: r.n,
    nParticles: r.nParticles,
    features: ["deta", "dphi", "pt"],
    x: r.x,
    valid: r.valid,
  }).mass;
}

/**
 * W1M: the 1-Wasserstein distance between the relative jet masses of two samples.
 *
 * @param real relative jets
 * @param gen relative jets
 * @param o sampling
 * @returns mean and standard deviation over the batches
 * @example
 * ```ts ignore
 * import { relativeJets, w1m } from "@mpm/webgpu/eval";
 * const { value, error } = w1m(relativeJets(real), relativeJets(generated));
 * ```
 */
export function w1m(real: RelativeJets, gen: RelativeJets, o: W1Options = {}): MetricValue {
  const m1 = relativeMasses(real), m2 = relativeMasses(gen);
  const rng = seeded(o.seed ?? 42, 0x77316d), k = o.samples ?? 50_000;
  const out: number[] = [];
  for (let b = 0; b < (o.batches ?? 5); b++) {
    const a = draw(rng, m1.length, k), c = draw(rng, m2.length, k);
    out.push(wasserstein1(Array.from(a, (i) => m1[i]), Array.from(c, (i) => m2[i])));
  }
  return meanStd(out);
}

/**
 * W1P: the 1-Wasserstein distances of ηrel, φrel and pTrel over the real particles of the
 * sampled jets.
 *
 * @param real relative jets
 * @param gen relative jets
 * @param o sampling
 * @returns per feature (ηrel, φrel, pTrel): mean and standard deviation over the batches
 * @example
 * ```ts ignore
 * import { relativeJets, w1p } from "@mpm/webgpu/eval";
 * const [eta, phi, pt] = w1p(relativeJets(real), relativeJets(generated));
 * ```
 */
export function w1p(real: RelativeJets, gen: RelativeJets, o: W1Options = {}): MetricValue[] {
  const rng = seeded(o.seed ?? 42, 0x773170), k = o.samples ?? 50_000;
  const per: number[][] = [[], [], []];
  const gather = (r: RelativeJets, idx: Int32Array, f: number) => {
    const v: number[] = [], P = r.nParticles;
    for (const j of idx) {
      for (let p = 0; p < P; p++) if (r.valid[j * P + p]) v.push(r.x[(j * P + p) * 3 + f]);
    }
    return v;
  };
  for (let b = 0; b < (o.batches ?? 5); b++) {
    const a = draw(rng, real.n, k), c = draw(rng, gen.n, k);
    for (let f = 0; f < 3; f++) {
      const x = gather(real, a, f), y = gather(gen, c, f);
      per[f].push(x.length && y.length ? wasserstein1(x, y) : Infinity);
    }
  }
  return per.map(meanStd);
}

/**
 * Per-jet feature vectors for FPD / KPD from the library's jet observables: relative mass,
 * multiplicity, width and the leading particle's pT share.
 *
 * @param r relative jets
 * @returns (n, 4) row-major
 * @example
 * ```ts
 * import { jetFeatureVectors, relativeJets } from "@mpm/webgpu/eval";
 * const r = relativeJets({ n: 1, nParticles: 2, features: ["pt", "deta", "dphi"], x: [30, 0, 0.1, 10, 0, -0.1], valid: [1, 1] });
 * console.assert(jetFeatureVectors(r)[1] === 2 && jetFeatureVectors(r)[3] === 0.75);
 * ```
 */
export function jetFeatureVectors(r: RelativeJets): Float64Array {
  const o = jetObservables({
    n: r.n,
    nParticles: r.nParticles,
    features: ["deta", "dphi", "pt"],
    x: r.x,
    valid: r.valid,
  });
  const out = new Float64Array(r.n * 4);
  for (let j = 0; j < r.n; j++) {
    out.set([o.mass[j], o.multiplicity[j], o.width[j], o.leadingPtShare[j]], j * 4);
  }
  return out;
}
