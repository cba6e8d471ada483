/**
 * JetNet (Kansal et al., NeurIPS 2021; Zenodo 6975118 with 30 particles, 6975117 with 150):
 * one HDF5 file per jet type, `g.hdf5`, `q.hdf5`, `t.hdf5`, `w.hdf5`, `z.hdf5` (or `g150.hdf5`
 * ...), each with `particle_features` (N, 30|150, 4) = [ηrel, φrel, pTrel, mask] and
 * `jet_features` (N, 4) = [pT, η, mass, multiplicity]. The standard benchmark for jet
 * generation ({@linkcode w1m}, {@linkcode w1p}, FPD/KPD).
 *
 * Converted to the library's layout: pT = pTrel × jet pT (GeV), Δη = ηrel, Δφ = φrel, real
 * particles where mask > 0.5 (and pT > 0), by decreasing pT, at most `nParticles`; jets =
 * [pT, η, 0 (the files carry no jet φ), mass, multiplicity]; the label is the jet type's index
 * in jetnet's order g, q, t, w, z, from the file name (or given). Kinematics-only, no types.
 *
 * @module
 */
import { type H5Dataset, type H5File, hdf5Cause, Hdf5PermissionError, openH5 } from "../_h5.ts";
import { DataError } from "../errors.ts";
import { type JetBlock, KINEMATIC_FEATURES } from "../types.ts";
import { emptyBlock, type JetSource } from "./source.ts";

/** JetNet's jet types, in its label order. */
export const JETNET_CLASSES: readonly string[] = Object.freeze(["g", "q", "t", "w", "z"]);

/**
 * Reads a JetNet file.
 *
 * @example
 * ```ts ignore
 * import { JetNetReader } from "@mpm/webgpu/data";
 * const r = JetNetReader.open("t.hdf5"); // label 2 (t)
 * const block = await r.read(0, r.n);
 * ```
 */
export class JetNetReader implements JetSource {
  readonly path: string;
  readonly n: number;
  readonly nParticles: number;
  readonly classNames: readonly string[] = JETNET_CLASSES;
  /** Particle slots in the file (30 or 150). */
  readonly slots: number;
  /** The file's jet type (index into {@linkcode JETNET_CLASSES}). */
  readonly label: number;
  #file: H5File;

  private constructor(
    path: string,
    file: H5File,
    n: number,
    slots: number,
    label: number,
    P: number,
  ) {
    this.path = path;
    this.#file = file;
    this.n = n;
    this.slots = slots;
    this.label = label;
    this.nParticles = P;
  }

  /**
   * Opens a file.
   *
   * @param path e.g. `t.hdf5` or `g150.hdf5`
   * @param o `nParticles` slots kept (default: the file's); `jetType` when the file name does
   *   not say it (one of g, q, t, w, z)
   * @throws {DataError} for a missing dataset, a wrong shape, or an unknown jet type
   */
  static open(path: string, o: { nParticles?: number; jetType?: string } = {}): JetNetReader {
    let file: H5File;
    try {
      Deno.statSync(path);
      file = openH5(path, "r");
      file.keys();
    } catch (e) {
      if (e instanceof Hdf5PermissionError) throw e;
      throw new DataError(
        { file: path },
        `not a readable HDF5 file (${hdf5Cause(e)})`,
        "check the path",
      );
    }
    const fail = (field: string, why: string, fix: string): never => {
      file.close();
      throw new DataError({ file: path, field }, why, fix);
    };
    const pf = file.get("particle_features") as H5Dataset | null;
    const jf = file.get("jet_features") as H5Dataset | null;
    if (!pf || !jf) {
      fail(
        pf ? "jet_features" : "particle_features",
        "dataset missing",
        "give a JetNet .hdf5 file",
      );
    }
    const ps = pf!.shape ?? [], js = jf!.shape ?? [];
    if (ps.length !== 3 || ps[2] !== 4) {
      fail(
        "particle_features",
        `shape [${ps}], expected (N, particles, 4)`,
        "give a JetNet .hdf5 file",
      );
    }
    if (js.length !== 2 || js[0] !== ps[0] || js[1] < 3) {
      fail(
        "jet_features",
        `shape [${js}] for ${ps[0]} jets, expected (N, 4)`,
        "give a JetNet .hdf5 file",
      );
    }
    const base = path.split("/").pop()!;
    const type = o.jetType ?? /^([gqtwz])(?:150)?\.hdf5$/.exec(base)?.[1];
    const label = type ? JETNET_CLASSES.indexOf(type) : -1;
    if (label < 0) {
      fail(
        "jet type",
        type
          ? `"${type}" is not a JetNet jet type`
          : `the file name "${base}" does not name the jet type`,
        `name it g.hdf5, q.hdf5, t.hdf5, w.hdf5 or z.hdf5 as published, or pass the type (--jet-type g|q|t|w|z)`,
      );
    }
    return new JetNetReader(path, file, ps[0], ps[1], label, o.nParticles ?? ps[1]);
  }

  read(start: number, count: number): Promise<JetBlock> {
    const s = Math.max(0, Math.min(start, this.n)), n = Math.min(count, this.n - s);
    const P = this.nParticles, M = this.slots;
    const block = emptyBlock(n, P, KINEMATIC_FEATURES);
    if (!n) return Promise.resolve(block);
    let pf: ArrayLike<number>, jf: ArrayLike<number>;
    const jw = (this.#file.get("jet_features") as H5Dataset).shape![1];
    try {
      pf = (this.#file.get("particle_features") as H5Dataset).slice([[s, s + n]]) as ArrayLike<
        number
      >;
      jf = (this.#file.get("jet_features") as H5Dataset).slice([[s, s + n]]) as ArrayLike<number>;
    } catch (e) {
      throw new DataError(
        { file: this.path, row: s },
        `reading jets ${s}..${s + n} failed (${hdf5Cause(e)})`,
        "the file is corrupt or truncated; download it again",
      );
    }
    const pt = new Float64Array(M);
    for (let j = 0; j < n; j++) {
      const jetPt = Number(jf[j * jw]);
      for (let i = 0; i < M; i++) {
        const o = (j * M + i) * 4;
        pt[i] = Number(pf[o + 3]) > 0.5 ? Number(pf[o + 2]) * jetPt : 0;
      }
      const order = Array.from({ length: M }, (_, i) => i).filter((i) => pt[i] > 0)
        .sort((a, b) => pt[b] - pt[a] || a - b).slice(0, P);
      order.forEach((i, r) => {
        const o = (j * P + r) * 3, src = (j * M + i) * 4;
        block.csts[o] = pt[i];
        block.csts[o + 1] = Number(pf[src]);
        block.csts[o + 2] = Number(pf[src + 1]);
        block.valid[j * P + r] = 1;
      });
      const mult = jw > 3 ? Number(jf[j * jw + 3]) : order.length;
      block.jets!.set([jetPt, Number(jf[j * jw + 1]), 0, Number(jf[j * jw + 2]), mult], j * 5);
      block.labels![j] = this.label;
    }
    return Promise.resolve(block);
  }

  close(): void {
    this.#file.close();
  }
}
