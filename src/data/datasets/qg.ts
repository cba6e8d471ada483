/**
 * The quark-gluon dataset of Komiske, Metodiev and Thaler (energyflow; Pythia 8 on Zenodo
 * 3164691, Herwig 7.1 on Zenodo 3066475: `QG_jets*.npz`, 100k jets per file), read directly
 * from the `.npz` files: `X` (N, M, 4) = [pT, y, φ, PDG id] zero-padded, `y` (N) with
 * quark = 1, gluon = 0.
 *
 * Converted as weaver's `convert_qg_datasets.py` does: particles massless (η = y), the jet is
 * the sum of their four-momenta, Δη = η − η_jet (without that script's sign(η_jet) flip, as
 * the reference's own converters), Δφ wrapped into (−π, π]; particles by decreasing pT, at most
 * `nParticles`; the PDG id mapped to the 8 particle types ({@linkcode pdgParticleType}). No
 * impact parameters: the blocks are kinematics-only with types.
 *
 * @module
 */
import { DataError } from "../errors.ts";
import { type JetBlock, KINEMATIC_FEATURES } from "../types.ts";
import { NpzFile } from "./_npz.ts";
import { jetKinematics } from "./kinematics.ts";
import { emptyBlock, type JetSource } from "./source.ts";

/** Class names of the quark-gluon labels. */
export const QG_CLASSES: readonly string[] = Object.freeze(["gluon", "quark"]);

// Charged hadrons by sign of the charge, neutral hadrons, leptons (PDG: 11 is e-, 13 is mu-).
const TYPES = new Map<number, number>([
  [22, 0],
  [-211, 1],
  [-321, 1],
  [-2212, 1],
  [130, 2],
  [310, 2],
  [2112, 2],
  [-2112, 2],
  [211, 3],
  [321, 3],
  [2212, 3],
  [11, 4],
  [-11, 5],
  [13, 6],
  [-13, 7],
]);

/**
 * The particle type (0 photon, 1/2/3 hadron −/0/+, 4 e−, 5 e+, 6 μ−, 7 μ+) of a final-state
 * PDG id, or −1 for an id that is not a stable final-state particle of these datasets.
 *
 * @param pid PDG Monte Carlo id
 * @returns the type, or −1
 * @example
 * ```ts
 * import { pdgParticleType } from "@mpm/webgpu/data";
 * console.assert(pdgParticleType(-211) === 1 && pdgParticleType(11) === 4 && pdgParticleType(-13) === 7);
 * ```
 */
export function pdgParticleType(pid: number): number {
  return TYPES.get(pid) ?? -1;
}

/**
 * Reads energyflow quark-gluon `.npz` files. The arrays stream in file order; reading backwards
 * restarts the stream.
 *
 * @example
 * ```ts ignore
 * import { QuarkGluonReader } from "@mpm/webgpu/data";
 * const r = await QuarkGluonReader.open("QG_jets.npz");
 * const block = await r.read(0, 10000); // pt, deta, dphi + types; labels 0 gluon / 1 quark
 * ```
 */
export class QuarkGluonReader implements JetSource {
  readonly path: string;
  readonly n: number;
  readonly nParticles: number;
  readonly classNames: readonly string[] = QG_CLASSES;
  /** Particle slots in the file. */
  readonly slots: number;
  #npz: NpzFile;
  #labels: Float64Array;
  #rows: AsyncGenerator<{ start: number; rows: number; data: Float64Array }> | null = null;
  #buffered: { start: number; rows: number; data: Float64Array } | null = null;

  private constructor(npz: NpzFile, labels: Float64Array, slots: number, nParticles: number) {
    this.#npz = npz;
    this.path = npz.path;
    this.#labels = labels;
    this.n = labels.length;
    this.slots = slots;
    this.nParticles = nParticles;
  }

  /**
   * Opens a file and reads its labels.
   *
   * @throws {DataError} when `X` or `y` is missing or their shapes disagree
   */
  static async open(path: string, o: { nParticles?: number } = {}): Promise<QuarkGluonReader> {
    const npz = await NpzFile.open(path);
    const hx = await npz.header("X");
    if (hx.shape.length !== 3 || hx.shape[2] !== 4) {
      throw new DataError(
        { file: path, field: "X" },
        `shape [${hx.shape}], expected (jets, particles, 4) = pt, y, phi, pid`,
        "give QG_jets*.npz as energyflow wrote it",
      );
    }
    const { data: y } = await npz.read("y");
    if (y.length !== hx.shape[0]) {
      throw new DataError(
        { file: path, field: "y" },
        `${y.length} labels for ${hx.shape[0]} jets`,
        "the file is damaged; download it again",
      );
    }
    return new QuarkGluonReader(npz, y, hx.shape[1], o.nParticles ?? 128);
  }

  async read(start: number, count: number): Promise<JetBlock> {
    const s = Math.max(0, Math.min(start, this.n)), n = Math.min(count, this.n - s);
    const P = this.nParticles, M = this.slots;
    const block = emptyBlock(n, P, KINEMATIC_FEATURES, { ids: true });
    const px = new Float64Array(M), py = new Float64Array(M), pz = new Float64Array(M);
    const e = new Float64Array(M);
    for (let j = 0; j < n; j++) {
      const x = await this.#row(s + j);
      for (let i = 0; i < M; i++) {
        const pt = x[i * 4], y = x[i * 4 + 1], phi = x[i * 4 + 2];
        px[i] = pt * Math.cos(phi);
        py[i] = pt * Math.sin(phi);
        pz[i] = pt * Math.sinh(y);
        e[i] = pt * Math.cosh(y);
      }
      const k = jetKinematics({ px, py, pz, e }, P);
      k.order.forEach((i, r) => {
        const o = (j * P + r) * 3;
        block.csts[o] = x[i * 4];
        block.csts[o + 1] = k.deta[r];
        block.csts[o + 2] = k.dphi[r];
        block.valid[j * P + r] = 1;
        const t = pdgParticleType(x[i * 4 + 3]);
        if (t < 0) {
          throw new DataError(
            { file: this.path, field: "X", row: s + j },
            `particle ${i} has PDG id ${x[i * 4 + 3]}, not a final-state particle of this dataset`,
            "give QG_jets*.npz as energyflow wrote it",
          );
        }
        block.ids![j * P + r] = t;
      });
      block.jets!.set([k.jet.pt, k.jet.eta, k.jet.phi, k.jet.mass, k.total], j * 5);
      const label = this.#labels[s + j];
      if (label !== 0 && label !== 1) {
        throw new DataError(
          { file: this.path, field: "y", row: s + j },
          `label ${label} (quark = 1, gluon = 0)`,
          "give QG_jets*.npz as energyflow wrote it",
        );
      }
      block.labels![j] = label;
    }
    return block;
  }

  /** Row `r` of X (M * 4 values), from the stream. */
  async #row(r: number): Promise<Float64Array> {
    const b = this.#buffered;
    if (b && r >= b.start && r < b.start + b.rows) {
      return b.data.subarray((r - b.start) * this.slots * 4, (r - b.start + 1) * this.slots * 4);
    }
    if (!b || r < b.start) {
      await this.#rows?.return(undefined);
      this.#rows = this.#npz.rows("X", 2048);
    }
    for (;;) {
      const next = await this.#rows!.next();
      if (next.done) throw new RangeError(`row ${r} beyond the ${this.n} jets`);
      this.#buffered = next.value;
      if (r < next.value.start + next.value.rows) return this.#row(r);
    }
  }

  close(): void {
    void this.#rows?.return(undefined);
    this.#rows = null;
    this.#buffered = null;
  }
}
