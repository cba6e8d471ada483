/**
 * Constituent kinematics relative to the jet axis, as the reference and weaver's converters
 * compute them from four-momenta: the jet is the sum of its constituents' four-vectors;
 * pT = hypot(px, py), η = asinh(pz / pT), φ = atan2(py, px); Δη = η − η_jet and
 * Δφ = φ − φ_jet wrapped into (−π, π]; constituents in decreasing pT, at most `nParticles`.
 *
 * @module
 */

/** One jet's constituents as parallel arrays (E may be omitted for massless particles). */
export interface Constituents {
  /** px per particle (GeV). */
  px: ArrayLike<number>;
  /** py per particle. */
  py: ArrayLike<number>;
  /** pz per particle. */
  pz: ArrayLike<number>;
  /** Energy per particle (default: |p|, massless). */
  e?: ArrayLike<number>;
}

/** A jet in the library's kinematics: its axis and its constituents around it, pT-ordered. */
export interface JetKinematics {
  /** Jet pT, η, φ and mass of the constituent sum. */
  jet: { pt: number; eta: number; phi: number; mass: number };
  /** Indices of the kept constituents, by decreasing pT. */
  order: number[];
  /** Constituents with pT > 0 before truncation to `nParticles`. */
  total: number;
  /** pT of the kept constituents. */
  pt: Float64Array;
  /** Δη to the jet axis. */
  deta: Float64Array;
  /** Δφ to the jet axis, in (−π, π]. */
  dphi: Float64Array;
}

/**
 * η as the reference's converters compute it: artanh(pz / (|p| + 1e-8)) with the argument
 * clipped to ±0.9999 (|η| ≤ 4.95), equal to asinh(pz / pT) within that range.
 *
 * @example
 * ```ts
 * import { referenceEta } from "@mpm/webgpu/data";
 * console.assert(Math.abs(referenceEta(1, 0, 1) - Math.asinh(1)) < 1e-7);
 * ```
 */
export function referenceEta(px: number, py: number, pz: number): number {
  const r = pz / (Math.hypot(px, py, pz) + 1e-8);
  return Math.atanh(Math.max(-0.9999, Math.min(0.9999, r)));
}

/**
 * `x` wrapped into (−π, π].
 *
 * @example
 * ```ts
 * import { wrapPhi } from "@mpm/webgpu/data";
 * console.assert(Math.abs(wrapPhi(3 * Math.PI / 2) + Math.PI / 2) < 1e-12);
 * ```
 */
export function wrapPhi(x: number): number {
  let y = x - 2 * Math.PI * Math.floor((x + Math.PI) / (2 * Math.PI));
  if (y === -Math.PI) y = Math.PI;
  return y;
}

/**
 * The jet axis and the kept constituents' pT, Δη, Δφ (constituents with pT > 0, at most
 * `nParticles`, by decreasing pT).
 *
 * @param c the constituents (padding entries have px = py = 0)
 * @param nParticles slots kept
 * @param o `referenceEta`: η as the reference's `pxpypz_to_ptetaphi` computes it
 *   ({@linkcode referenceEta}) instead of the exact asinh(pz / pT)
 * @returns the jet and its constituents around it
 * @example
 * ```ts
 * import { jetKinematics } from "@mpm/webgpu/data";
 * const k = jetKinematics({ px: [10, 0, 5], py: [0, 0, 0], pz: [0, 0, 0] }, 128);
 * console.assert(k.order.join() === "0,2" && k.jet.pt === 15 && k.dphi[0] === 0);
 * ```
 */
export function jetKinematics(
  c: Constituents,
  nParticles: number,
  o: { referenceEta?: boolean } = {},
): JetKinematics {
  const m = c.px.length;
  const etaOf = o.referenceEta
    ? referenceEta
    : (px: number, py: number, pz: number) => Math.asinh(pz / Math.hypot(px, py));
  let sx = 0, sy = 0, sz = 0, se = 0;
  const pt = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const px = c.px[i], py = c.py[i], pz = c.pz[i];
    pt[i] = Math.hypot(px, py);
    if (!(pt[i] > 0)) continue;
    sx += px;
    sy += py;
    sz += pz;
    se += c.e ? c.e[i] : Math.hypot(px, py, pz);
  }
  const jpt = Math.hypot(sx, sy);
  const jet = {
    pt: jpt,
    eta: jpt > 0 ? etaOf(sx, sy, sz) : 0,
    phi: Math.atan2(sy, sx),
    mass: Math.sqrt(Math.max(se * se - sx * sx - sy * sy - sz * sz, 0)),
  };
  const real = Array.from({ length: m }, (_, i) => i).filter((i) => pt[i] > 0);
  const order = real.sort((a, b) => pt[b] - pt[a] || a - b).slice(0, nParticles);
  const n = order.length;
  const out = { pt: new Float64Array(n), deta: new Float64Array(n), dphi: new Float64Array(n) };
  order.forEach((i, k) => {
    out.pt[k] = pt[i];
    out.deta[k] = etaOf(c.px[i], c.py[i], c.pz[i]) - jet.eta;
    out.dphi[k] = wrapPhi(Math.atan2(c.py[i], c.px[i]) - jet.phi);
  });
  return { jet, order, total: real.length, ...out };
}
