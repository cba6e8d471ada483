/**
 * Jet data types and the constants of the JetClass and BTag layouts.
 *
 * @module
 */

/** The seven continuous per-particle features of the reference layout, in column order. */
export const JETCLASS_FEATURES: readonly string[] = Object.freeze([
  "pt",
  "deta",
  "dphi",
  "d0",
  "d0err",
  "dz",
  "dzerr",
]);

/** Kinematics-only feature set (MPMv1-style data). */
export const KINEMATIC_FEATURES: readonly string[] = Object.freeze(["pt", "deta", "dphi"]);

/** Number of particle-type classes: photon, h-, h0, h+, e-, e+, mu-, mu+. */
export const N_PARTICLE_TYPES = 8;

/** Particle-type class names, by id. */
export const PARTICLE_TYPES: readonly string[] = Object.freeze([
  "photon",
  "hadron-",
  "hadron0",
  "hadron+",
  "electron",
  "positron",
  "muon-",
  "muon+",
]);

/** JetClass labels in the reference (jetssl) order: class id = index. */
export const JETCLASS_LABELS: readonly string[] = Object.freeze([
  "QCD",
  "Tbl",
  "Tbqq",
  "Wqq",
  "Zqq",
  "Hbb",
  "Hcc",
  "Hgg",
  "H4q",
  "Hqql",
]);

/** BTag jet-flavour labels: class id = index. */
export const BTAG_LABELS: readonly string[] = Object.freeze(["light", "charm", "bottom"]);

/** BTag track origins (`track_type`): -1 padding, then these by id. */
export const TRACK_TYPES: readonly string[] = Object.freeze([
  "primary",
  "charm",
  "bottom",
  "other",
]);

/** Jet-level features stored in `jets`. */
export const JET_FEATURES: readonly string[] = Object.freeze([
  "pt",
  "eta",
  "phi",
  "sdmass",
  "n_csts",
]);

/**
 * A block of jets in CPU memory, row-major, particles in decreasing pT, padded slots zero.
 * `valid` is 1 for real particles, everywhere.
 */
export interface JetBlock {
  /** Number of jets. */
  n: number;
  /** Particle slots per jet (128 for JetClass, 15 for BTag). */
  nParticles: number;
  /** Names of the continuous feature columns. */
  features: readonly string[];
  /** (n, nParticles, features.length) continuous features. */
  csts: Float32Array;
  /** (n, nParticles) particle-type ids 0..7, when the data has them. */
  ids?: Int32Array;
  /** (n, nParticles) 1 = real particle. */
  valid: Uint8Array;
  /** (n) class labels, when the data has them. */
  labels?: Int32Array;
  /** (n, 5) [pt, eta, phi, sdmass, n_csts]. */
  jets?: Float32Array;
  /** BTag: (n, nParticles) truth vertex index of each track (0 = primary). */
  vtxId?: Int32Array;
  /** BTag: (n, nParticles) track origin: -1 pad, 0 primary, 1 charm, 2 bottom, 3 other. */
  trackType?: Int32Array;
  /** BTag: (n, nVertices, 4) true vertex [x, y, z, L3D] in mm. */
  vtxPos?: Float32Array;
  /** BTag: vertex slots per jet in `vtxPos`. */
  nVertices?: number;
}

/** Number of real particles in jet `j` of a block. */
export function multiplicity(block: JetBlock, j: number): number {
  let n = 0;
  const base = j * block.nParticles;
  for (let i = 0; i < block.nParticles; i++) n += block.valid[base + i];
  return n;
}

/**
 * A copy of a block keeping only the named feature columns, in that order (e.g. a
 * kinematics-only dataset); `dropIds` also removes the particle types.
 *
 * @example
 * ```ts
 * import { KINEMATIC_FEATURES, selectFeatures, synthJetClass } from "@mpm/webgpu/data";
 * const kin = selectFeatures(synthJetClass(2), KINEMATIC_FEATURES, { dropIds: true });
 * console.assert(kin.features.length === 3 && kin.csts.length === 2 * 128 * 3 && !kin.ids);
 * ```
 */
export function selectFeatures(
  block: JetBlock,
  names: readonly string[],
  options: { dropIds?: boolean } = {},
): JetBlock {
  const cols = names.map((n) => {
    const c = block.features.indexOf(n);
    if (c < 0) throw new RangeError(`selectFeatures: no feature "${n}" in [${block.features}]`);
    return c;
  });
  const F0 = block.features.length, F = cols.length, rows = block.n * block.nParticles;
  const csts = new Float32Array(rows * F);
  for (let i = 0; i < rows; i++) {
    for (let f = 0; f < F; f++) csts[i * F + f] = block.csts[i * F0 + cols[f]];
  }
  return { ...block, features: [...names], csts, ids: options.dropIds ? undefined : block.ids };
}
