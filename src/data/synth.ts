/**
 * Physics-shaped synthetic jets, the built-in default data of every command.
 *
 * JetClass-like jets (R = 0.8, pT 500-1000 GeV, 10 classes in the reference order) are built
 * from prongs: QCD is one quark or gluon prong (sometimes with a hard wide-angle splitting);
 * W/Z/H/top decay into 2, 3 or 4 prongs at the resonance mass (opening angle
 * ΔR ≈ M / (pT sqrt(z (1 - z)))); leptonic classes carry one hard lepton and lose a neutrino.
 * Each prong fragments into a multiplicity that grows with its pT (gluons ~1.7x quarks),
 * shares momentum with Dirichlet(1) fractions above a ~0.5 GeV floor, and spreads in angle with
 * softer particles wider (median ΔR ≈ 0.03 e^{-0.4 (ln z + 0.5)}, as measured on real jets).
 * Particle types follow Delphes E-flow fractions (~58 % charged, ~33 % photons, ~7 % neutral
 * hadrons, rare leptons). Charged tracks get impact parameters with resolutions
 * σ(d0) = sqrt(10² + (130/pT)²) µm, σ(z0) = sqrt(28² + (210/pT)²) µm, lifetime tails from
 * b (cτ 470 µm) and c (cτ 200 µm) hadron decays, and long tails from V0 decays; neutral
 * particles have zero impact parameters, as in JetClass.
 *
 * BTag-like jets (R = 0.4, up to 15 charged tracks; light, charm, bottom) place true secondary
 * vertices along the flight direction (b → c cascades give two), compute each track's impact
 * parameters from its vertex geometrically, smear, and lifetime-sign them; `vtxId` and
 * `trackType` follow the decay chain.
 *
 * Jet `i` is drawn from its own generator seeded by (seed, i): blocks can be generated in any
 * order or size with identical results. Calibration against real JetClass quantiles is tested
 * (`tests/data/synth_test.ts`) and reported in `bench/RESULTS.md`.
 *
 * @module
 */
import { signedD0, signedZ0 } from "./lifetime.ts";
import { Rng } from "./rng.ts";
import { type JetBlock, JETCLASS_FEATURES } from "./types.ts";

/** Options of {@linkcode synthJetClass} and {@linkcode synthBTag}. */
export interface SynthOptions {
  /** Run seed. Default 0. */
  seed?: number;
  /** Index of the first jet (for generating a large set block by block). Default 0. */
  start?: number;
  /** Restrict to these class ids (drawn uniformly among them). Default: all classes. */
  classes?: readonly number[];
  /** Particle slots per jet. Default 128 (JetClass) or 15 (BTag). */
  nParticles?: number;
}

// ---------------------------------------------------------------- random numbers

// ---------------------------------------------------------------- particles

/** Scratch buffers for one jet's particles before sorting and padding. */
class Particles {
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

const isCharged = (id: number) => id !== 0 && id !== 2;

/** Random particle type for a hadronic prong: photon, charged hadron (±), neutral hadron. */
function hadronicType(r: Rng): number {
  const u = r.u();
  if (u < 0.33) return 0;
  if (u < 0.40) return 2;
  if (u < 0.9965) return r.u() < 0.5 ? 1 : 3;
  return u < 0.9985 ? (r.u() < 0.5 ? 4 : 5) : (r.u() < 0.5 ? 6 : 7);
}

/** A lepton id: electron or muon, either charge. */
function leptonType(r: Rng): number {
  return (r.u() < 0.5 ? 4 : 6) + (r.u() < 0.5 ? 0 : 1);
}

/** Track resolutions (mm) for a track of transverse momentum pt (GeV). */
/**
 * Track resolution knots (pT GeV, σ(d0) mm, σ(z0) mm), obtained by matching the real JetClass
 * error quantiles to the pT quantiles (errors fall as pT rises): 1 %/99 %, 5 %/95 %, 25 %/75 %,
 * 50 %, 75 %/25 %, 95 %/5 %, 99 %/1 %. Interpolated log-log; Delphes itself uses binned tables.
 */
const RES_KNOTS: readonly (readonly [number, number, number])[] = [
  [0.866, 0.156, 0.554],
  [1.14, 0.0753, 0.244],
  [2.64, 0.035, 0.0736],
  [5.86, 0.0233, 0.045],
  [14.8, 0.0144, 0.035],
  [62.3, 0.011, 0.0316],
  [159, 0.0101, 0.0284],
];
const RES_LOG = RES_KNOTS.map(([p, a, b]) => [Math.log(p), Math.log(a), Math.log(b)]);

/** Track resolutions (mm) for a track of transverse momentum pt (GeV). */
function resolutions(pt: number): [number, number] {
  const x = Math.log(pt);
  let k = 0;
  while (k < RES_LOG.length - 2 && x > RES_LOG[k + 1][0]) k++;
  const [x0, a0, b0] = RES_LOG[k], [x1, a1, b1] = RES_LOG[k + 1];
  const t = Math.max(-0.5, Math.min(1, (x - x0) / (x1 - x0)));
  return [Math.exp(a0 + t * (a1 - a0)), Math.exp(b0 + t * (b1 - b0))];
}

/** Tuned constants (calibrated against real JetClass quantiles; see tests/data/synth_test.ts). */
const T = {
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

type Flavour = 0 | 1 | 2 | 3 | 4; // light quark, gluon, charm, bottom, lepton

interface Prong {
  flavour: Flavour;
  pt: number;
  eta: number;
  phi: number;
  /** Invisible (neutrino) prongs carry momentum but make no particles. */
  invisible?: boolean;
}

const M_W = 80.4, M_Z = 91.19, M_H = 125.1, M_T = 172.8;

/** Splits `p` into two prongs of a resonance of mass m with daughter flavours f1, f2. */
function split(
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

function lightOrCharm(r: Rng, pCharm: number): Flavour {
  return r.u() < pCharm ? 2 : 0;
}

/** Builds the prongs of a jet of class `label` with pT `pt`, centred at (0, 0). */
function prongs(r: Rng, label: number, pt: number): Prong[] {
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
function fragment(r: Rng, p: Prong, jetPt: number, parts: Particles): void {
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
function promptIp(r: Rng, parts: Particles, i: number): void {
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
function underlyingEvent(r: Rng, parts: Particles): void {
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

function allocBlock(n: number, nParticles: number, features: readonly string[]): JetBlock {
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
function emit(
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

/**
 * Generates `n` JetClass-like jets (128 slots, 7 features, 8 particle types, 10 classes).
 * The `jets` column `sdmass` holds the constituent mass (no grooming).
 *
 * @example
 * ```ts
 * import { synthJetClass } from "@mpm/webgpu/data";
 * const block = synthJetClass(100, { seed: 1 });
 * console.assert(block.n === 100 && block.csts.length === 100 * 128 * 7);
 * ```
 */
export function synthJetClass(n: number, options: SynthOptions = {}): JetBlock {
  const seed = options.seed ?? 0, start = options.start ?? 0;
  const classes = options.classes ?? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const block = allocBlock(n, options.nParticles ?? 128, JETCLASS_FEATURES);
  const parts = new Particles(256);
  for (let j = 0; j < n; j++) {
    const r = new Rng(seed, start + j);
    const label = classes[Math.floor(r.u() * classes.length)];
    const pt = 500 - 125 * Math.log(1 - r.u() * (1 - Math.exp(-4)));
    let eta = r.n();
    while (Math.abs(eta) > 2) eta = r.n();
    const phi = Math.PI * (2 * r.u() - 1);
    parts.n = 0;
    for (const p of prongs(r, label, pt)) fragment(r, p, pt, parts);
    underlyingEvent(r, parts);
    block.labels![j] = label;
    emit(block, j, parts, eta, phi, 0.8);
  }
  return block;
}

// ---------------------------------------------------------------- BTag

/**
 * Generates `n` BTag-like jets (R = 0.4, up to 15 charged tracks, labels light/charm/bottom)
 * with true secondary vertices, `vtxId`, `trackType` and `vtxPos` (x, y, z, L3D; 4 slots).
 *
 * @example
 * ```ts
 * import { synthBTag } from "@mpm/webgpu/data";
 * const block = synthBTag(10, { seed: 2 });
 * console.assert(block.nParticles === 15 && block.vtxId!.length === 150);
 * ```
 */
export function synthBTag(n: number, options: SynthOptions = {}): JetBlock {
  const seed = options.seed ?? 0, start = options.start ?? 0;
  const classes = options.classes ?? [0, 1, 2];
  const nP = options.nParticles ?? 15, NV = 4;
  const block: JetBlock = {
    ...allocBlock(n, nP, JETCLASS_FEATURES),
    vtxId: new Int32Array(n * nP),
    trackType: new Int32Array(n * nP),
    vtxPos: new Float32Array(n * NV * 4),
    nVertices: NV,
  };
  const parts = new Particles(64);
  for (let j = 0; j < n; j++) {
    const r = new Rng(seed ^ 0x5bd1e995, start + j);
    const u = r.u();
    const label = options.classes
      ? classes[Math.floor(r.u() * classes.length)]
      : u < 0.5
      ? 0
      : u < 0.7
      ? 1
      : 2;
    const jetPt = 20 + 55 * r.e();
    const jetEta = 2.5 * (2 * r.u() - 1), jetPhi = Math.PI * (2 * r.u() - 1);
    parts.n = 0;
    // Vertices: 0 = primary at the origin; secondaries along the flight direction.
    const vx: number[] = [0], vy: number[] = [0], vz: number[] = [0], vtype: number[] = [0];
    const flight = (from: number, pHad: number, mass: number, ctau: number, type: number) => {
      const l = (pHad / mass) * ctau * r.e();
      const eta = jetEta + 0.02 * r.n(), phi = jetPhi + 0.02 * r.n();
      const st = 1 / Math.cosh(eta);
      vx.push(vx[from] + l * st * Math.cos(phi));
      vy.push(vy[from] + l * st * Math.sin(phi));
      vz.push(vz[from] + l * Math.tanh(eta));
      vtype.push(type);
      return vx.length - 1;
    };
    const hadP = 0.7 * jetPt * Math.cosh(jetEta);
    const secondaries: [number, number][] = []; // [vertex, number of tracks]
    if (label === 2) {
      const b = flight(0, hadP, 5.28, 0.47, 2);
      secondaries.push([b, 1 + r.poisson(1.8)]);
      const c = flight(b, 0.6 * hadP, 1.87, 0.2, 1);
      secondaries.push([c, 1 + r.poisson(1.3)]);
    } else if (label === 1) {
      secondaries.push([flight(0, hadP, 1.87, 0.2, 1), 1 + r.poisson(1.5)]);
    } else if (r.u() < 0.12) {
      secondaries.push([flight(0, hadP, 0.5, 26.8, 3), 2]);
    }
    const nPrompt = 1 + r.poisson(2.5 + 0.03 * jetPt);
    const tracks: number[] = [];
    for (let k = 0; k < nPrompt; k++) tracks.push(0);
    for (const [v, m] of secondaries) for (let k = 0; k < m; k++) tracks.push(v);
    // Momentum sharing among the tracks (charged fraction ~ 0.65 of the jet).
    let sum = 0;
    const shares = tracks.map(() => {
      const e = r.e();
      sum += e;
      return e;
    });
    for (let k = 0; k < tracks.length && parts.n < parts.cap; k++) {
      const v = tracks[k];
      const pt = 0.5 + Math.max(0.65 * jetPt - 0.5 * tracks.length, 0) * shares[k] / sum;
      const z = pt / jetPt;
      const med = Math.min(0.02 * Math.exp(-0.4 * (Math.log(z) + 0.5)), 0.3);
      const rad = med * Math.sqrt(-2 * Math.log(1 - r.u())) / 1.1774, ang = 2 * Math.PI * r.u();
      const deta = rad * Math.cos(ang), dphi = rad * Math.sin(ang);
      const lepton = v > 0 && vtype[v] !== 3 && r.u() < 0.1;
      const id = lepton ? leptonType(r) : r.u() < 0.5 ? 1 : 3;
      const i = parts.add(pt, deta, dphi, id);
      // Geometric impact parameters of a straight track from its vertex, then resolution.
      const phiT = jetPhi + dphi, etaT = jetEta + deta;
      const d0g = vx[v] * Math.sin(phiT) - vy[v] * Math.cos(phiT);
      const z0g = vz[v] - (vx[v] * Math.cos(phiT) + vy[v] * Math.sin(phiT)) * Math.sinh(etaT);
      const [s0, sz] = resolutions(pt);
      const d0 = d0g + s0 * r.n(), z0 = z0g + sz * r.n();
      parts.d0[i] = signedD0(d0, z0, pt, etaT, phiT, jetPt, jetEta, jetPhi);
      parts.dz[i] = signedZ0(z0, jetEta, etaT);
      parts.d0err[i] = s0 * (0.85 + 0.3 * r.u());
      parts.dzerr[i] = sz * (0.85 + 0.3 * r.u());
      parts.vtx[i] = v;
      parts.ttype[i] = vtype[v];
    }
    block.labels![j] = label;
    emit(block, j, parts, jetEta, jetPhi, Infinity);
    // Vertex ids must be dense among the kept tracks' vertices: renumber 1..V in order seen.
    for (let v = 1; v < vx.length && v < NV; v++) {
      const o = (j * NV + v) * 4;
      block.vtxPos![o] = vx[v];
      block.vtxPos![o + 1] = vy[v];
      block.vtxPos![o + 2] = vz[v];
      block.vtxPos![o + 3] = Math.hypot(vx[v], vy[v], vz[v]);
    }
  }
  return block;
}
