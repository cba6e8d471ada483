/**
 * The shower model behind the synthetic jets (internal to `src/data/`): particle types and
 * track resolutions, the tuned constants, prongs of each decay, their fragmentation, impact
 * parameters and the underlying event, and the packing of one jet's particles into a block.
 * See `synth.ts` for the physics summary.
 *
 * @module
 */
import type { Rng } from "./rng.ts";
import type { JetBlock } from "./types.ts";

// ---------------------------------------------------------------- particles

/** Scratch buffers for one jet's particles before sorting and padding. */
export class Particles {
  n = 0;
  readonly cap: number;
  pt: Float64Array;
  eta: Float64Array;
  phi: Float64Array;
  d0: Float64Array;
  d0err: Float64Array;
  dz: Float64Array;
  dzerr: Float64Array;
  id: Int32Array;
  vtx: Int32Array;
  ttype: Int32Array;
  order: Int32Array;

  constructor(cap: number) {
    this.cap = cap;
    this.pt = new Float64Array(cap);
    this.eta = new Float64Array(cap);
    this.phi = new Float64Array(cap);
    this.d0 = new Float64Array(cap);
    this.d0err = new Float64Array(cap);
    this.dz = new Float64Array(cap);
    this.dzerr = new Float64Array(cap);
    this.id = new Int32Array(cap);
    this.vtx = new Int32Array(cap);
    this.ttype = new Int32Array(cap);
    this.order = new Int32Array(cap);
  }

  add(pt: number, eta: number, phi: number, id: number): number {
    if (this.n >= this.cap) return -1;
    const i = this.n++;
    this.pt[i] = pt;
    this.eta[i] = eta;
    this.phi[i] = phi;
    this.id[i] = id;
    this.d0[i] =
      this.d0err[i] =
      this.dz[i] =
      this.dzerr[i] =
        0;
    this.vtx[i] = 0;
    this.ttype[i] = 0;
    return i;
  }

  /** Fills `order` with particle indices by decreasing pT (insertion sort: n is small). */
  sort(): void {
    const o = this.order, pt = this.pt;
    for (let i = 0; i < this.n; i++) {
      const v = pt[i];
      let j = i - 1;
      while (j >= 0 && pt[o[j]] < v) {
        o[j + 1] = o[j];
        j--;
      }
      o[j + 1] = i;
    }
  }
}

export const isCharged = (id: number) => id !== 0 && id !== 2;

/** Random particle type for a hadronic prong: photon, charged hadron (±), neutral hadron. */
export function hadronicType(r: Rng): number {
  const u = r.u();
  if (u < 0.33) return 0;
  if (u < 0.40) return 2;
  if (u < 0.9965) return r.u() < 0.5 ? 1 : 3;
  return u < 0.9985 ? (r.u() < 0.5 ? 4 : 5) : (r.u() < 0.5 ? 6 : 7);
}

/** A lepton id: electron or muon, either charge. */
export function leptonType(r: Rng): number {
  return (r.u() < 0.5 ? 4 : 6) + (r.u() < 0.5 ? 0 : 1);
}

/** Track resolutions (mm) for a track of transverse momentum pt (GeV). */
/**
 * Track resolution knots (pT GeV, σ(d0) mm, σ(z0) mm), obtained by matching the real JetClass
 * error quantiles to the pT quantiles (errors fall as pT rises): 1 %/99 %, 5 %/95 %, 25 %/75 %,
 * 50 %, 75 %/25 %, 95 %/5 %, 99 %/1 %. Interpolated log-log; Delphes itself uses binned tables.
 */
export const RES_KNOTS: readonly (readonly [number, number, number])[] = [
  [0.866, 0.156, 0.554],
  [1.14, 0.0753, 0.244],
  [2.64, 0.035, 0.0736],
  [5.86, 0.0233, 0.045],
  [14.8, 0.0144, 0.035],
  [62.3, 0.011, 0.0316],
  [159, 0.0101, 0.0284],
];
export const RES_LOG = RES_KNOTS.map(([p, a, b]) => [Math.log(p), Math.log(a), Math.log(b)]);

/** Track resolutions (mm) for a track of transverse momentum pt (GeV). */
export function resolutions(pt: number): [number, number] {
  const x = Math.log(pt);
  let k = 0;
  while (k < RES_LOG.length - 2 && x > RES_LOG[k + 1][0]) k++;
  const [x0, a0, b0] = RES_LOG[k], [x1, a1, b1] = RES_LOG[k + 1];
  const t = Math.max(-0.5, Math.min(1, (x - x0) / (x1 - x0)));
  return [Math.exp(a0 + t * (a1 - a0)), Math.exp(b0 + t * (b1 - b0))];
}

/** Tuned constants (calibrated against real JetClass quantiles; see tests/data/synth_test.ts). */
export const T = {
  multA: 1.2,
  multB: 3.7,
  gluonMult: 1.7,
  multSpread: 1.0,
  floorA: 0.55,
  floorB: 0.35,
  shareSigma: 1.15,
  angle: 0.5,
  slope: 0.38,
  v0: 0.05,
  v0Scale: 60,
  ue: 2,
};

// ---------------------------------------------------------------- JetClass

export type Flavour = 0 | 1 | 2 | 3 | 4; // light quark, gluon, charm, bottom, lepton

export interface Prong {
  flavour: Flavour;
  pt: number;
  eta: number;
  phi: number;
  /** Invisible (neutrino) prongs carry momentum but make no particles. */
  invisible?: boolean;
}

export const M_W = 80.4, M_Z = 91.19, M_H = 125.1, M_T = 172.8;

/** Splits `p` into two prongs of a resonance of mass m with daughter flavours f1, f2. */
export function split(
  r: Rng,
  p: Prong,
  m: number,
  f1: Flavour,
  f2: Flavour,
  out: Prong[],
  shrink = 0.9,
): [Prong, Prong] {
  // z from a uniform decay angle, kept where the opening angle fits inside the jet.
  const zmin = Math.max(0.05, 0.5 * (1 - Math.sqrt(Math.max(0, 1 - 4 * (m / (0.75 * p.pt)) ** 2))));
  const z = zmin + (1 - 2 * zmin) * r.u();
  // Prong showers add mass of their own; a slightly smaller opening angle puts the jet mass peak
  // back near the resonance mass (tuned: W 80, Z 91, H 125, t 173 within a few GeV).
  const dr = Math.min((shrink * m) / (p.pt * Math.sqrt(z * (1 - z))), 0.75);
  const ang = 2 * Math.PI * r.u(), ux = Math.cos(ang), uy = Math.sin(ang);
  const a: Prong = {
    flavour: f1,
    pt: z * p.pt,
    eta: p.eta + (1 - z) * dr * ux,
    phi: p.phi + (1 - z) * dr * uy,
  };
  const b: Prong = {
    flavour: f2,
    pt: (1 - z) * p.pt,
    eta: p.eta - z * dr * ux,
    phi: p.phi - z * dr * uy,
  };
  out.push(a, b);
  return [a, b];
}

export function lightOrCharm(r: Rng, pCharm: number): Flavour {
  return r.u() < pCharm ? 2 : 0;
}

/** Builds the prongs of a jet of class `label` with pT `pt`, centred at (0, 0). */
export function prongs(r: Rng, label: number, pt: number): Prong[] {
  const root: Prong = { flavour: 0, pt, eta: 0, phi: 0 };
  const out: Prong[] = [];
  const pop = (p: Prong) => out.splice(out.indexOf(p), 1);
  switch (label) {
    case 0: { // QCD: one quark or gluon; sometimes a hard splitting (mass tail, gluon -> bb/cc)
      const f: Flavour = r.u() < 0.5 ? 0 : 1;
      if (r.u() < 0.35) {
        const m = 15 + 60 * r.e();
        const u = r.u();
        const [fa, fb]: [Flavour, Flavour] = u < 0.04 ? [3, 3] : u < 0.1 ? [2, 2] : [f, 1];
        split(r, root, Math.min(m, 0.5 * pt), fa, fb, out);
      } else out.push({ ...root, flavour: f });
      break;
    }
    case 1: { // Tbl: t -> b W(l nu)
      const [, w] = split(r, root, M_T, 3, 0, out);
      pop(w);
      const [l, nu] = split(r, w, M_W, 4, 4, out);
      void l;
      nu.invisible = true;
      break;
    }
    case 2: { // Tbqq: t -> b W(qq')
      const [, w] = split(r, root, M_T, 3, 0, out, 0.82);
      pop(w);
      split(r, w, M_W, lightOrCharm(r, 0.5), 0, out, 0.82);
      break;
    }
    case 3: // Wqq (W -> cs one time in two pairs)
      split(r, root, M_W * (1 + 0.03 * r.n()), lightOrCharm(r, 0.33), 0, out);
      break;
    case 4: { // Zqq: bb 15 %, cc 12 %, light otherwise
      const u = r.u();
      const f: Flavour = u < 0.15 ? 3 : u < 0.27 ? 2 : 0;
      split(r, root, M_Z * (1 + 0.03 * r.n()), f, f, out);
      break;
    }
    case 5:
      split(r, root, M_H, 3, 3, out);
      break;
    case 6:
      split(r, root, M_H, 2, 2, out);
      break;
    case 7:
      split(r, root, M_H, 1, 1, out);
      break;
    case 8: { // H -> W W* -> 4q
      const [w1, w2] = split(r, root, M_H, 0, 0, out);
      pop(w1);
      pop(w2);
      split(r, w1, M_W, lightOrCharm(r, 0.33), 0, out);
      split(r, w2, 25 + 20 * r.u(), lightOrCharm(r, 0.33), 0, out);
      break;
    }
    default: { // Hqql: H -> W(qq) W*(l nu)
      const [w1, w2] = split(r, root, M_H, 0, 0, out);
      pop(w1);
      pop(w2);
      split(r, w1, M_W, lightOrCharm(r, 0.33), 0, out);
      const [, nu] = split(r, w2, 25 + 20 * r.u(), 4, 4, out);
      nu.invisible = true;
    }
  }
  return out;
}

/** Fragments one prong into particles; jetPt sets the angular scale. */
export function fragment(r: Rng, p: Prong, jetPt: number, parts: Particles): void {
  if (p.invisible) return;
  if (p.flavour === 4) { // an isolated lepton, with a little FSR photon sometimes
    const fsr = r.u() < 0.3 ? 0.05 * r.u() * p.pt : 0;
    const i = parts.add(p.pt - fsr, p.eta, p.phi, leptonType(r));
    if (i >= 0) promptIp(r, parts, i);
    if (fsr > 0.5) parts.add(fsr, p.eta + 0.02 * r.n(), p.phi + 0.02 * r.n(), 0);
    return;
  }
  const lp = Math.log(Math.max(p.pt, 5) / 5);
  let mean = T.multA + T.multB * lp;
  if (p.flavour === 1) mean *= T.gluonMult;
  if (p.flavour >= 2) mean += 2;
  let n = Math.max(1, Math.round(mean + T.multSpread * Math.sqrt(mean) * r.n()));
  n = Math.min(n, Math.floor(p.pt / 0.8), parts.cap - parts.n);
  if (n <= 0) return;
  // Momentum sharing: floors of ~0.3-0.8 GeV plus Dirichlet(1) shares of the rest.
  const first = parts.n;
  let floors = 0, sum = 0;
  for (let k = 0; k < n; k++) {
    const i = parts.add(0, 0, 0, 0);
    const f = T.floorA + T.floorB * r.u();
    parts.d0[i] = f; // temporary: the floor
    floors += f;
    const e = Math.exp(T.shareSigma * r.n()); // log-normal shares: log z ≈ N(μ, 1.2) on real jets
    parts.d0err[i] = e; // temporary: the share
    sum += e;
  }
  const rest = Math.max(p.pt - floors, 0);
  const spread = (p.flavour === 1 ? 1.25 : 1) * T.angle;
  const decayP = p.flavour === 3 ? 0.4 : p.flavour === 2 ? 0.3 : 0;
  const ctau = p.flavour === 3 ? 0.47 : 0.2;
  for (let i = first; i < first + n; i++) {
    const pt = parts.d0[i] + rest * parts.d0err[i] / sum;
    const z = pt / jetPt;
    // A 2-D Gaussian offset whose radius has median `med` (sigma = med / 1.1774).
    const sigma = Math.min(0.03 * Math.exp(-T.slope * (Math.log(z) + 0.5)) * spread, 0.45) / 1.1774;
    parts.pt[i] = pt;
    parts.eta[i] = p.eta + sigma * r.n();
    parts.phi[i] = p.phi + sigma * r.n();
    let id = hadronicType(r);
    if (decayP > 0 && id === 0 && r.u() < 0.15) id = r.u() < 0.5 ? 1 : 3; // heavy decays: more charged
    parts.id[i] = id;
    parts.d0[i] = parts.d0err[i] = 0;
    if (!isCharged(id)) continue;
    promptIp(r, parts, i);
    if (decayP > 0 && z > 0.004 && r.u() < decayP) {
      // Lifetime: |d0| of order c tau, mostly positive after lifetime signing.
      const ip = ctau * (0.2 + r.e()) * (0.5 + Math.abs(r.n()));
      parts.d0[i] += r.u() < 0.82 ? ip : -ip;
      parts.dz[i] += ip * 1.3 * r.n();
    }
  }
}

/** Prompt-track impact parameters and errors, plus rare long-lived (V0) displacements. */
export function promptIp(r: Rng, parts: Particles, i: number): void {
  const [s0, sz] = resolutions(parts.pt[i]);
  parts.d0err[i] = s0 * (0.96 + 0.08 * r.u());
  parts.dzerr[i] = sz * (0.96 + 0.08 * r.u());
  parts.d0[i] = s0 * r.n();
  parts.dz[i] = sz * r.n();
  const u = r.u();
  if (u < T.v0) {
    // Decays in flight of K0S / Lambda and material interactions: long tails, mostly positive
    // after lifetime signing (the decay happens downstream along the jet).
    const l = Math.min(T.v0Scale * r.e(), 1100);
    parts.d0[i] += r.u() < 0.65 ? l * (0.05 + 0.95 * r.u()) : -l * 0.3 * r.u();
    parts.dz[i] += l * 0.3 * r.n();
    parts.d0err[i] *= 1 + 2.5 * r.u();
    parts.dzerr[i] *= 1 + 2.5 * r.u();
  } else if (u < T.v0 + 0.12) {
    // Non-Gaussian resolution tails (multiple scattering, wrong hits).
    parts.d0[i] += 5 * s0 * r.n();
    parts.dz[i] += 5 * sz * r.n();
  }
}

/** Adds soft underlying-event/pile-up particles spread over the jet area. */
export function underlyingEvent(r: Rng, parts: Particles): void {
  const n = r.poisson(T.ue);
  for (let k = 0; k < n; k++) {
    const rad = 0.75 * Math.sqrt(r.u()), ang = 2 * Math.PI * r.u();
    const i = parts.add(
      0.4 + 1.2 * r.e(),
      rad * Math.cos(ang),
      rad * Math.sin(ang),
      hadronicType(r),
    );
    if (i >= 0 && isCharged(parts.id[i])) promptIp(r, parts, i);
  }
}

export function allocBlock(n: number, nParticles: number, features: readonly string[]): JetBlock {
  return {
    n,
    nParticles,
    features,
    csts: new Float32Array(n * nParticles * features.length),
    ids: new Int32Array(n * nParticles),
    valid: new Uint8Array(n * nParticles),
    labels: new Int32Array(n),
    jets: new Float32Array(n * 5),
  };
}

/** Writes a jet's sorted particles into row `j` of `block`, and its jet features. */
export function emit(
  block: JetBlock,
  j: number,
  parts: Particles,
  jetEta: number,
  jetPhi: number,
  clip: number,
): number {
  parts.sort();
  const np = Math.min(parts.n, block.nParticles), F = block.features.length;
  let px = 0, py = 0, pz = 0, e = 0;
  for (let k = 0; k < np; k++) {
    const i = parts.order[k];
    const o = (j * block.nParticles + k) * F;
    const pt = parts.pt[i];
    const deta = Math.max(-clip, Math.min(clip, parts.eta[i])),
      dphi = Math.max(-clip, Math.min(clip, parts.phi[i]));
    block.csts[o] = pt;
    block.csts[o + 1] = deta;
    block.csts[o + 2] = dphi;
    if (F === 7) {
      block.csts[o + 3] = parts.d0[i];
      block.csts[o + 4] = parts.d0err[i];
      block.csts[o + 5] = parts.dz[i];
      block.csts[o + 6] = parts.dzerr[i];
    }
    block.ids![j * block.nParticles + k] = parts.id[i];
    block.valid[j * block.nParticles + k] = 1;
    if (block.vtxId) {
      block.vtxId[j * block.nParticles + k] = parts.vtx[i];
      block.trackType![j * block.nParticles + k] = parts.ttype[i];
    }
    // Mass and pT are computed in the jet frame (mass is invariant; pT nearly so).
    const ex = Math.exp(parts.eta[i]), dp = parts.phi[i];
    px += pt * Math.cos(dp);
    py += pt * Math.sin(dp);
    pz += pt * 0.5 * (ex - 1 / ex);
    e += pt * 0.5 * (ex + 1 / ex);
  }
  for (let k = np; k < block.nParticles; k++) {
    if (block.trackType) block.trackType[j * block.nParticles + k] = -1;
  }
  const jpt = Math.hypot(px, py), p = Math.hypot(jpt, pz);
  const jets = block.jets!;
  jets[j * 5] = jpt;
  jets[j * 5 + 1] = jetEta;
  jets[j * 5 + 2] = jetPhi;
  jets[j * 5 + 3] = Math.sqrt(Math.max(e * e - p * p, 0));
  jets[j * 5 + 4] = np;
  return np;
}
