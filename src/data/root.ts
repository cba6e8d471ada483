/**
 * Original JetClass ROOT files, read directly with jsroot (tree `tree`, `vector<float>`
 * particle branches, label branches of mixed types), converted exactly as the reference's
 * `make_jetclass.py` does:
 *
 * - pT = hypot(px, py); Δη, Δφ from `part_deta`, `part_dphi`; d0, dz lifetime-signed with the
 *   track direction η = Δη + η_jet, φ = Δφ + φ_jet; then Δη, Δφ clipped to ±0.8;
 * - particle type from charge and the isPhoton/isNeutralHadron/isChargedHadron/isElectron/isMuon
 *   flags: 0 photon, 1/2/3 hadron with charge -/0/+, 4 e-, 5 e+, 6 mu-, 7 mu+;
 * - particles sorted by decreasing pT, padded or truncated to 128; NaN set to 0; mask = pT > 0;
 * - jets = [jet_pt, jet_eta, jet_phi, jet_sdmass, n_csts]; label = argmax of the one-hot
 *   `label_*` branches in the reference order (QCD, Tbl, Tbqq, Wqq, Zqq, Hbb, Hcc, Hgg, H4q, Hqql).
 *
 * Other particle-level trees read through a branch map; when Δη/Δφ branches are absent they are
 * computed from px, py, pz around the axis of the particle sum. Without impact-parameter
 * branches the result is kinematics-only ([pt, deta, dphi]).
 *
 * @module
 */
import { DataError } from "./errors.ts";
import { type RootEntry, RootTree } from "./root_tree.ts";
import { signedD0, signedZ0 } from "./lifetime.ts";
import { type JetBlock, JETCLASS_FEATURES, KINEMATIC_FEATURES } from "./types.ts";

/** Logical JetClass branch names. */
export const JETCLASS_BRANCHES: readonly string[] = [
  "part_px",
  "part_py",
  "part_pz",
  "part_deta",
  "part_dphi",
  "part_d0val",
  "part_d0err",
  "part_dzval",
  "part_dzerr",
  "part_charge",
  "part_isPhoton",
  "part_isNeutralHadron",
  "part_isChargedHadron",
  "part_isElectron",
  "part_isMuon",
  "jet_pt",
  "jet_eta",
  "jet_phi",
  "jet_sdmass",
];

/** Label branches in the reference (jetssl) class order. */
export const JETCLASS_LABEL_BRANCHES: readonly string[] = [
  "label_QCD",
  "label_Tbl",
  "label_Tbqq",
  "label_Wqq",
  "label_Zqq",
  "label_Hbb",
  "label_Hcc",
  "label_Hgg",
  "label_H4q",
  "label_Hqql",
];

export type { RootEntry } from "./root_tree.ts";

const num = (v: unknown): number => {
  const x = Number(v);
  return Number.isFinite(x) ? x : 0;
};
const arr = (e: RootEntry, k: string): ArrayLike<number> | undefined =>
  e[k] as ArrayLike<number> | undefined;

/**
 * Particle type (0..7) from charge and type flags, as the reference's `common_particle_class`.
 *
 * @example
 * ```ts
 * import { particleClass } from "@mpm/webgpu/data";
 * console.assert(particleClass(1, { chargedHadron: true }) === 3);
 * console.assert(particleClass(-1, { muon: true }) === 6);
 * ```
 */
export function particleClass(
  charge: number,
  f: {
    photon?: boolean;
    neutralHadron?: boolean;
    chargedHadron?: boolean;
    electron?: boolean;
    muon?: boolean;
  },
): number {
  if (f.neutralHadron || f.chargedHadron) return charge < 0 ? 1 : charge > 0 ? 3 : 2;
  if (f.electron) return charge < 0 ? 4 : 5;
  if (f.muon) return charge < 0 ? 6 : 7;
  return 0; // photons and anything unflagged
}

/**
 * Converts tree entries (JetClass branch names) to a block, as the reference does. Entries
 * lacking impact-parameter branches give a kinematics-only block.
 *
 * @example
 * ```ts
 * import { jetClassFromEntries } from "@mpm/webgpu/data";
 * const b = jetClassFromEntries([{ part_px: [3, 4], part_py: [4, 0], part_deta: [0.1, 0.9], part_dphi: [0, 0] }], 4);
 * console.assert(b.csts[0] === 5 && b.features.length === 3);
 * ```
 */
export function jetClassFromEntries(entries: readonly RootEntry[], nParticles = 128): JetBlock {
  const first = entries[0] ?? {};
  const full = ["part_d0val", "part_d0err", "part_dzval", "part_dzerr"].every((k) => k in first);
  // Types need the flags (charge alone cannot tell a photon from a neutral hadron).
  const hasIds = "part_isPhoton" in first || "part_isChargedHadron" in first;
  const hasLabels = JETCLASS_LABEL_BRANCHES.some((k) => k in first);
  const features = full ? JETCLASS_FEATURES : KINEMATIC_FEATURES;
  const F = features.length, n = entries.length, P = nParticles;
  const block: JetBlock = {
    n,
    nParticles: P,
    features,
    csts: new Float32Array(n * P * F),
    valid: new Uint8Array(n * P),
    ids: hasIds ? new Int32Array(n * P) : undefined,
    labels: hasLabels ? new Int32Array(n) : undefined,
    jets: new Float32Array(n * 5),
  };
  entries.forEach((e, j) => {
    const px = arr(e, "part_px") ?? [], py = arr(e, "part_py") ?? [], pz = arr(e, "part_pz");
    const m = px.length;
    const pt = Float64Array.from({ length: m }, (_, i) => Math.hypot(num(px[i]), num(py[i])));
    // Jet axis: the jet branches, or the particle sum when they are absent.
    let jetPt = num(e.jet_pt), jetEta = num(e.jet_eta), jetPhi = num(e.jet_phi);
    let deta = arr(e, "part_deta"), dphi = arr(e, "part_dphi");
    if (!deta || !dphi || !("jet_pt" in e)) {
      let sx = 0, sy = 0, sz = 0;
      for (let i = 0; i < m; i++) {
        sx += num(px[i]);
        sy += num(py[i]);
        sz += pz ? num(pz[i]) : 0;
      }
      if (!("jet_pt" in e)) {
        jetPt = Math.hypot(sx, sy);
        jetEta = Math.asinh(sz / Math.max(jetPt, 1e-12));
        jetPhi = Math.atan2(sy, sx);
      }
      if (!deta || !dphi) {
        const de = new Float64Array(m), dp = new Float64Array(m);
        for (let i = 0; i < m; i++) {
          de[i] = pz ? Math.asinh(num(pz[i]) / Math.max(pt[i], 1e-12)) - jetEta : 0;
          dp[i] = wrapPi(Math.atan2(num(py[i]), num(px[i])) - jetPhi);
        }
        deta = de;
        dphi = dp;
      }
    }
    const order = Array.from({ length: m }, (_, i) => i).filter((i) => pt[i] > 0).sort((a, b) =>
      pt[b] - pt[a] || a - b
    );
    const keep = Math.min(order.length, P);
    const charge = arr(e, "part_charge");
    for (let k = 0; k < keep; k++) {
      const i = order[k], o = (j * P + k) * F;
      const de = num(deta[i]), dp = num(dphi[i]);
      block.csts[o] = pt[i];
      block.csts[o + 1] = Math.max(-0.8, Math.min(0.8, de));
      block.csts[o + 2] = Math.max(-0.8, Math.min(0.8, dp));
      if (full) {
        const etaT = de + jetEta, phiT = dp + jetPhi;
        const d0 = num(arr(e, "part_d0val")![i]), z0 = num(arr(e, "part_dzval")![i]);
        block.csts[o + 3] = signedD0(d0, z0, pt[i], etaT, phiT, jetPt, jetEta, jetPhi);
        block.csts[o + 4] = num(arr(e, "part_d0err")![i]);
        block.csts[o + 5] = signedZ0(z0, jetEta, etaT);
        block.csts[o + 6] = num(arr(e, "part_dzerr")![i]);
      }
      block.valid[j * P + k] = 1;
      if (block.ids) {
        const flag = (name: string) => !!num(arr(e, name)?.[i]);
        block.ids[j * P + k] = particleClass(num(charge?.[i]), {
          photon: flag("part_isPhoton"),
          neutralHadron: flag("part_isNeutralHadron"),
          chargedHadron: flag("part_isChargedHadron"),
          electron: flag("part_isElectron"),
          muon: flag("part_isMuon"),
        });
      }
    }
    block.jets!.set([jetPt, jetEta, jetPhi, num(e.jet_sdmass), keep], j * 5);
    if (block.labels) {
      let best = 0;
      JETCLASS_LABEL_BRANCHES.forEach((k, c) => {
        if (num(e[k]) > num(e[JETCLASS_LABEL_BRANCHES[best]])) best = c;
      });
      block.labels[j] = best;
    }
  });
  return block;
}

function wrapPi(x: number): number {
  return x - 2 * Math.PI * Math.floor((x + Math.PI) / (2 * Math.PI));
}

/** Options of {@linkcode RootJetReader.open}. */
export interface RootJetReaderOptions {
  /** TTree name. Default `tree`, or the file's only TTree. */
  tree?: string;
  /** JetClass branch name -> branch name in this file (for other particle-level trees). */
  branchMap?: Readonly<Record<string, string>>;
  /** Particle slots. Default 128. */
  nParticles?: number;
}

/**
 * Reads jets from a ROOT file in entry ranges.
 *
 * @example
 * ```ts ignore
 * const r = await RootJetReader.open("HToBB_120.root");
 * const block = await r.read(0, 10000);
 * ```
 */
export class RootJetReader {
  /** File path. */
  readonly path: string;
  /** Number of entries (jets). */
  readonly n: number;
  /** Branches read, as (JetClass name, file name). */
  readonly branches: readonly [string, string][];
  /** Particle slots. */
  readonly nParticles: number;
  #tree: RootTree;

  private constructor(tree: RootTree, branches: [string, string][], nParticles: number) {
    this.path = tree.path;
    this.#tree = tree;
    this.n = tree.n;
    this.branches = branches;
    this.nParticles = nParticles;
  }

  /**
   * Opens a ROOT file and resolves the branches.
   *
   * @throws {DataError} for a missing or unreadable file, a missing tree, or missing px/py.
   */
  static async open(path: string, options: RootJetReaderOptions = {}): Promise<RootJetReader> {
    const tree = await RootTree.open(path, { tree: options.tree });
    const map = options.branchMap ?? {};
    const branches: [string, string][] = [];
    for (const logical of [...JETCLASS_BRANCHES, ...JETCLASS_LABEL_BRANCHES]) {
      const actual = map[logical] ?? logical;
      if (tree.branches.has(actual)) branches.push([logical, actual]);
    }
    for (const need of ["part_px", "part_py"]) {
      if (!branches.some(([l]) => l === need)) {
        throw new DataError(
          { file: path, field: map[need] ?? need },
          `branch missing in TTree "${tree.name}"`,
          `name the file's branch: deno task data convert --branch ${need}=BRANCH (library: ` +
            `the branchMap option)`,
        );
      }
    }
    return new RootJetReader(tree, branches, options.nParticles ?? 128);
  }

  /** Reads entries [start, start + count) (clamped) and converts them. */
  async read(start: number, count: number): Promise<JetBlock> {
    return jetClassFromEntries(await this.#tree.read(this.branches, start, count), this.nParticles);
  }

  /** Nothing to release (jsroot reads on demand). */
  close(): void {}
}
