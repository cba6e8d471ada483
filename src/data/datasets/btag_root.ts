/**
 * The b-tagging / secondary-vertex dataset of the reference (Shlomi et al., Mach. Learn.: Sci.
 * Technol. 2 (2021) 035003, and its extension by Ochoa and Kagan, Zenodo 13350327), read
 * directly from its ROOT files (TTree `tree`, one entry per jet, `vector` branches per track)
 * and converted exactly as the reference's `make_shlomi.py`:
 *
 * - tracks: the first `nTracks` (15) in file order, [pT, Δη = η − η_jet, Δφ wrapped, d0, d0err,
 *   z0, z0err] with d0 and z0 lifetime-signed against the jet (ATLAS DIPS convention);
 * - types from the PDG id and the charge (|id| 11 e, 13 μ, > 100 hadron; all tracks charged);
 * - `jet_flav` 0, 4, 5 → labels 0 light, 1 charm, 2 bottom;
 * - `vtx_id` = `trk_vtx_index` (tracks of one truth vertex share it);
 * - `track_type`: 0 from the primary vertex (|prod_z| < 1e-6), 1 from a charm hadron, 2 from a
 *   bottom hadron (prod_z within 1e-6 of the hadron's; bottom wins), 3 other, −1 padding;
 * - `vtx_pos` = [x, y, z, L3D] of the true vertices, padded to the file's largest count;
 * - jets = [pT, η, φ, M, n_trks].
 *
 * The kept tracks are then ordered by decreasing pT (the library's layout; the reference keeps
 * file order). Missing impact-parameter branches give kinematics-only blocks; missing truth
 * branches give blocks without the vertex datasets; missing jet branches put the axis at the
 * track sum.
 *
 * @module
 */
import { DataError } from "../errors.ts";
import { signedD0, signedZ0 } from "../lifetime.ts";
import { type RootEntry, RootTree } from "../root_tree.ts";
import { BTAG_LABELS, type JetBlock, JETCLASS_FEATURES, KINEMATIC_FEATURES } from "../types.ts";
import { wrapPhi } from "./kinematics.ts";
import { emptyBlock, type JetSource } from "./source.ts";

/** The branches the reference reads, by group. */
export const BTAG_BRANCHES = {
  tracks: ["trk_pt", "trk_eta", "trk_phi"],
  impact: ["trk_d0", "trk_d0err", "trk_z0", "trk_z0err"],
  types: ["trk_charge", "trk_pdg_id"],
  jets: ["jet_pt", "jet_eta", "jet_phi", "jet_M", "n_trks"],
  label: ["jet_flav"],
  truth: [
    "trk_vtx_index",
    "trk_prod_z",
    "hadron_pdgid",
    "hadron_z",
    "true_vtx_x",
    "true_vtx_y",
    "true_vtx_z",
    "true_vtx_L3D",
  ],
} as const;

const FLAVOUR = new Map([[0, 0], [4, 1], [5, 2]]);

const isCharm = (p: number) => {
  const a = Math.abs(p);
  return (a > 410 && a < 436) || (a > 4120 && a < 4445);
};
const isBottom = (p: number) => {
  const a = Math.abs(p);
  return (a > 510 && a < 546) || (a > 5120 && a < 5555);
};

/** The reference's particle type of a track from |PDG id| and charge (0 when unmatched). */
function trackClass(pdg: number, q: number): number {
  const a = Math.abs(pdg);
  if (a > 100) return q === -1 ? 1 : q === 1 ? 3 : q === 0 ? 2 : 0;
  if (a === 11) return q === -1 ? 4 : q === 1 ? 5 : 0;
  if (a === 13) return q === -1 ? 6 : q === 1 ? 7 : 0;
  return 0;
}

const arr = (e: RootEntry, k: string) => (e[k] ?? []) as ArrayLike<number>;
const num = (v: unknown) => (Number.isFinite(Number(v)) ? Number(v) : 0);

/**
 * Converts BTag tree entries (reference branch names) as `make_shlomi.py` does.
 *
 * @param entries tree entries
 * @param o `nTracks` kept (default 15); `nVertices` slots of `vtx_pos` (default: the largest
 *   count in `entries`); `file` and `first` name the source in errors
 * @returns the block (BTag datasets present when the truth branches are)
 * @throws {DataError} for a jet flavour other than 0, 4, 5
 * @example
 * ```ts
 * import { btagFromEntries } from "@mpm/webgpu/data";
 * const b = btagFromEntries([{ trk_pt: [2, 5], trk_eta: [0.1, 0.2], trk_phi: [0, 0.1], jet_flav: 5 }]);
 * console.assert(b.csts[0] === 5 && b.labels![0] === 2);
 * ```
 */
export function btagFromEntries(
  entries: readonly RootEntry[],
  o: { nTracks?: number; nVertices?: number; file?: string; first?: number } = {},
): JetBlock {
  const T = o.nTracks ?? 15, n = entries.length, first = entries[0] ?? {};
  const has = (ks: readonly string[]) => ks.every((k) => k in first);
  const full = has(BTAG_BRANCHES.impact), types = has(BTAG_BRANCHES.types);
  const truth = has(BTAG_BRANCHES.truth), labels = has(BTAG_BRANCHES.label);
  const features = full ? JETCLASS_FEATURES : KINEMATIC_FEATURES, F = features.length;
  const V = truth
    ? (o.nVertices ?? Math.max(1, ...entries.map((e) => arr(e, "true_vtx_x").length)))
    : 0;
  const block: JetBlock = {
    ...emptyBlock(n, T, features, { ids: types, labels }),
    ...(truth
      ? {
        vtxId: new Int32Array(n * T),
        trackType: new Int32Array(n * T).fill(-1),
        vtxPos: new Float32Array(n * V * 4),
        nVertices: V,
      }
      : {}),
  };
  entries.forEach((e, j) => {
    const pt = arr(e, "trk_pt"), eta = arr(e, "trk_eta"), phi = arr(e, "trk_phi");
    const m = Math.min(pt.length, T);
    let jpt = num(e.jet_pt), jeta = num(e.jet_eta), jphi = num(e.jet_phi);
    if (!has(["jet_pt", "jet_eta", "jet_phi"])) {
      let sx = 0, sy = 0, sz = 0;
      for (let i = 0; i < pt.length; i++) {
        sx += pt[i] * Math.cos(phi[i]);
        sy += pt[i] * Math.sin(phi[i]);
        sz += pt[i] * Math.sinh(eta[i]);
      }
      jpt = Math.hypot(sx, sy);
      jeta = jpt > 0 ? Math.asinh(sz / jpt) : 0;
      jphi = Math.atan2(sy, sx);
    }
    // The reference keeps the first T tracks in file order; they are then ordered by pT here.
    const order = Array.from({ length: m }, (_, i) => i).filter((i) => num(pt[i]) > 0)
      .sort((a, b) => num(pt[b]) - num(pt[a]) || a - b);
    const hz = arr(e, "hadron_z"), hp = arr(e, "hadron_pdgid");
    order.forEach((i, r) => {
      const o = (j * T + r) * F, p = num(pt[i]), te = num(eta[i]), tp = num(phi[i]);
      block.csts[o] = p;
      block.csts[o + 1] = te - jeta;
      block.csts[o + 2] = wrapPhi(tp - jphi);
      if (full) {
        const d0 = num(arr(e, "trk_d0")[i]), z0 = num(arr(e, "trk_z0")[i]);
        block.csts[o + 3] = signedD0(d0, z0, p, te, tp, jpt, jeta, jphi);
        block.csts[o + 4] = num(arr(e, "trk_d0err")[i]);
        block.csts[o + 5] = signedZ0(z0, jeta, te);
        block.csts[o + 6] = num(arr(e, "trk_z0err")[i]);
      }
      block.valid[j * T + r] = 1;
      if (types) {
        block.ids![j * T + r] = trackClass(
          num(arr(e, "trk_pdg_id")[i]),
          num(arr(e, "trk_charge")[i]),
        );
      }
      if (truth) {
        block.vtxId![j * T + r] = num(arr(e, "trk_vtx_index")[i]);
        const z = num(arr(e, "trk_prod_z")[i]);
        let t = Math.abs(z) < 1e-6 ? 0 : 3, c = false, b = false;
        for (let h = 0; h < hz.length; h++) {
          if (Math.abs(z - hz[h]) < 1e-6) {
            c ||= isCharm(hp[h]);
            b ||= isBottom(hp[h]);
          }
        }
        if (c) t = 1;
        if (b) t = 2;
        block.trackType![j * T + r] = t;
      }
    });
    block.jets!.set([
      jpt,
      jeta,
      jphi,
      num(e.jet_M),
      "n_trks" in e ? num(e.n_trks) : pt.length,
    ], j * 5);
    if (labels) {
      const flav = num(e.jet_flav), label = FLAVOUR.get(flav);
      if (label === undefined) {
        throw new DataError(
          { file: o.file ?? "(entries)", field: "jet_flav", row: (o.first ?? 0) + j },
          `jet flavour ${flav} (the dataset's flavours are 0 light, 4 charm, 5 bottom)`,
          "give a file of this dataset",
        );
      }
      block.labels![j] = label;
    }
    if (truth) {
      const vx = arr(e, "true_vtx_x"), vy = arr(e, "true_vtx_y"), vz = arr(e, "true_vtx_z");
      const vl = arr(e, "true_vtx_L3D");
      for (let v = 0; v < Math.min(vx.length, V); v++) {
        block.vtxPos!.set([num(vx[v]), num(vy[v]), num(vz[v]), num(vl[v])], (j * V + v) * 4);
      }
    }
  });
  return block;
}

/**
 * Reads BTag ROOT files (`training_data.root`, `valid_data.root`, `test_data.root`, or the
 * flavour-tagging R&D files `train_*.root`, `validate.root`, `test.root`).
 *
 * @example
 * ```ts ignore
 * import { BTagRootReader } from "@mpm/webgpu/data";
 * const r = await BTagRootReader.open("test_data.root");
 * const block = await r.read(0, 10000); // vtxId, trackType, vtxPos for vertexing
 * ```
 */
export class BTagRootReader implements JetSource {
  readonly path: string;
  readonly n: number;
  readonly nParticles: number;
  readonly classNames: readonly string[] = BTAG_LABELS;
  /** Vertex slots (the file's largest vertex count), 0 without truth branches. */
  readonly nVertices: number;
  /** Branches read, as (reference name, file name). */
  readonly branches: readonly [string, string][];
  #tree: RootTree;

  private constructor(tree: RootTree, branches: [string, string][], T: number, V: number) {
    this.#tree = tree;
    this.path = tree.path;
    this.n = tree.n;
    this.branches = branches;
    this.nParticles = T;
    this.nVertices = V;
  }

  /**
   * Opens a file; with the truth branches present, scans the vertex counts once.
   *
   * @param path the ROOT file
   * @param o `tree` (default `tree`), `nTracks` (15), `branchMap` (reference name → branch)
   * @throws {DataError} for a missing file, tree or track branch
   */
  static async open(
    path: string,
    o: { tree?: string; nTracks?: number; branchMap?: Readonly<Record<string, string>> } = {},
  ): Promise<BTagRootReader> {
    const tree = await RootTree.open(path, { tree: o.tree });
    const map = o.branchMap ?? {};
    const branches: [string, string][] = [];
    for (const logical of Object.values(BTAG_BRANCHES).flat()) {
      const actual = map[logical] ?? logical;
      if (tree.branches.has(actual)) branches.push([logical, actual]);
    }
    for (const need of BTAG_BRANCHES.tracks) {
      if (!branches.some(([l]) => l === need)) {
        throw new DataError(
          { file: path, field: map[need] ?? need },
          `branch missing in TTree "${tree.name}"`,
          `give a BTag file, or name the file's branch: deno task data convert --branch ${need}=BRANCH ` +
            "(library: the branchMap option)",
        );
      }
    }
    const got = new Set(branches.map(([l]) => l));
    const truth = BTAG_BRANCHES.truth.every((b) => got.has(b));
    const kept = truth
      ? branches
      : branches.filter(([l]) => !(BTAG_BRANCHES.truth as readonly string[]).includes(l));
    let V = 0;
    if (truth) {
      const vx = kept.find(([l]) => l === "true_vtx_x")!;
      for (let s = 0; s < tree.n; s += 20000) {
        for (const e of await tree.read([vx], s, 20000)) {
          V = Math.max(V, arr(e, "true_vtx_x").length);
        }
      }
      V = Math.max(V, 1);
    }
    return new BTagRootReader(tree, kept, o.nTracks ?? 15, V);
  }

  async read(start: number, count: number): Promise<JetBlock> {
    const entries = await this.#tree.read(this.branches, start, count);
    return btagFromEntries(entries, {
      nTracks: this.nParticles,
      nVertices: this.nVertices || undefined,
      file: this.path,
      first: start,
    });
  }

  close(): void {}
}
