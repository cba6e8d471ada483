/**
 * Generation quality: 1-Wasserstein distances between samples, jet-level observables of
 * particle sets, and a trivial baseline (every feature drawn independently from its marginal)
 * that a generative head has to beat.
 *
 * @module
 */

/**
 * Exact 1-Wasserstein distance between two empirical distributions (the area between their
 * CDFs); the samples may differ in size.
 *
 * @example
 * ```ts
 * import { wasserstein1 } from "@mpm/webgpu/eval";
 * console.assert(Math.abs(wasserstein1([0, 1], [1, 2]) - 1) < 1e-12);
 * ```
 */
export function wasserstein1(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (!a.length || !b.length) throw new RangeError("wasserstein1: empty sample");
  const x = Float64Array.from(a).sort(), y = Float64Array.from(b).sort();
  let i = 0, j = 0, prev = Math.min(x[0], y[0]), area = 0;
  while (i < x.length || j < y.length) {
    const next = j >= y.length || (i < x.length && x[i] <= y[j]) ? x[i] : y[j];
    area += Math.abs(i / x.length - j / y.length) * (next - prev);
    prev = next;
    while (i < x.length && x[i] === next) i++;
    while (j < y.length && y[j] === next) j++;
  }
  return area;
}

/** A set of jets as padded particle arrays in physical units. */
export interface ParticleSets {
  /** Jets. */
  n: number;
  /** Slots per jet. */
  nParticles: number;
  /** Features per particle. */
  features: readonly string[];
  /** (n, nParticles, F) values. */
  x: ArrayLike<number>;
  /** (n, nParticles) 1 for real particles. */
  valid: ArrayLike<number>;
}

/** Jet-level observables, one value per jet. */
export interface JetObservables {
  /** Invariant mass of the massless constituents [GeV]. */
  mass: Float64Array;
  /** Number of particles. */
  multiplicity: Float64Array;
  /** pT sharing: the leading particle's share of the scalar pT sum. */
  leadingPtShare: Float64Array;
  /** pT-weighted angular width sum(pT ΔR) / sum(pT). */
  width: Float64Array;
}

/**
 * Jet observables from `pt`, `deta`, `dphi` (particles massless; (Δη, Δφ) relative to the jet
 * axis, to which the mass is invariant).
 *
 * @example
 * ```ts
 * import { jetObservables } from "@mpm/webgpu/eval";
 * const o = jetObservables({
 *   n: 1, nParticles: 2, features: ["pt", "deta", "dphi"],
 *   x: [50, 0, 0.1, 50, 0, -0.1], valid: [1, 1],
 * });
 * console.assert(Math.abs(o.mass[0] - 100 * Math.sin(0.1)) < 1e-9);
 * ```
 */
export function jetObservables(s: ParticleSets): JetObservables {
  const F = s.features.length;
  const [ip, ie, iphi] = ["pt", "deta", "dphi"].map((f) => {
    const i = s.features.indexOf(f);
    if (i < 0) throw new RangeError(`jetObservables: feature "${f}" missing from [${s.features}]`);
    return i;
  });
  const out = {
    mass: new Float64Array(s.n),
    multiplicity: new Float64Array(s.n),
    leadingPtShare: new Float64Array(s.n),
    width: new Float64Array(s.n),
  };
  for (let j = 0; j < s.n; j++) {
    let E = 0, px = 0, py = 0, pz = 0, sum = 0, lead = 0, w = 0, k = 0;
    for (let p = 0; p < s.nParticles; p++) {
      const r = j * s.nParticles + p;
      if (!s.valid[r]) continue;
      const pt = Math.max(s.x[r * F + ip], 0), eta = s.x[r * F + ie], phi = s.x[r * F + iphi];
      E += pt * Math.cosh(eta);
      px += pt * Math.cos(phi);
      py += pt * Math.sin(phi);
      pz += pt * Math.sinh(eta);
      sum += pt;
      lead = Math.max(lead, pt);
      w += pt * Math.hypot(eta, phi);
      k++;
    }
    out.mass[j] = Math.sqrt(Math.max(E * E - px * px - py * py - pz * pz, 0));
    out.multiplicity[j] = k;
    out.leadingPtShare[j] = sum > 0 ? lead / sum : 0;
    out.width[j] = sum > 0 ? w / sum : 0;
  }
  return out;
}

/**
 * The trivial baseline: a copy of `like` whose real particles' features are each redrawn
 * independently from the marginal of `pool` (rows of F values), ignoring all correlations.
 *
 * @example
 * ```ts ignore
 * const fake = marginalBaseline(droppedTruth, 7, droppedTruth.length / 7, () => Math.random());
 * ```
 */
export function marginalBaseline(
  pool: ArrayLike<number>,
  F: number,
  rows: number,
  rand: () => number,
): Float32Array {
  const n = pool.length / F;
  if (!n) throw new RangeError("marginalBaseline: empty pool");
  const out = new Float32Array(rows * F);
  for (let r = 0; r < rows; r++) {
    for (let f = 0; f < F; f++) out[r * F + f] = pool[Math.floor(rand() * n) * F + f];
  }
  return out;
}
