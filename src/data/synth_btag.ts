/**
 * BTag-like synthetic jets (R = 0.4, up to 15 charged tracks; light, charm, bottom) with true
 * secondary vertices along the flight direction (b → c cascades give two), impact parameters
 * computed from each track's vertex, smeared and lifetime-signed, and `vtxId` / `trackType` from
 * the decay chain. See `synth.ts` for the shower model.
 *
 * @module
 */
import { allocBlock, emit, leptonType, Particles, resolutions } from "./_shower.ts";
import { signedD0, signedZ0 } from "./lifetime.ts";
import { Rng } from "./rng.ts";
import { type JetBlock, JETCLASS_FEATURES } from "./types.ts";
import type { SynthOptions } from "./synth.ts";

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
