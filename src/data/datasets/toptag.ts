/**
 * The Top Tagging Landscape dataset (Kasieczka, Plehn et al., SciPost Phys. 7, 014 (2019);
 * Zenodo 2603256: `train.h5`, `val.h5`, `test.h5`), read directly from the pandas files: a frame
 * under key `table` with `E_i`, `PX_i`, `PY_i`, `PZ_i` for 200 constituents (zero-padded),
 * truth columns, `ttv` and `is_signal_new` (1 = top, 0 = QCD).
 *
 * Converted as the reference's `make_toptag.py` does: the jet is the sum of the constituents'
 * massless four-momenta; pT = hypot(px, py), η = artanh(pz / |p|) clipped
 * ({@linkcode referenceEta}), Δη = η − η_jet, Δφ wrapped; jets = [pT, η, φ, mass, n]. The data
 * has no impact parameters or particle types, so the blocks are kinematics-only
 * ([pt, deta, dphi], no `csts_id`), constituents by decreasing pT, at most `nParticles`.
 *
 * @module
 */
import { DataError } from "../errors.ts";
import { type JetBlock, KINEMATIC_FEATURES } from "../types.ts";
import { PandasFrame } from "./_pandas.ts";
import { jetKinematics } from "./kinematics.ts";
import { emptyBlock, type JetSource } from "./source.ts";

/** Class names of the Top Tagging Landscape labels. */
export const TOPTAG_CLASSES: readonly string[] = Object.freeze(["QCD", "top"]);

/**
 * Reads Top Tagging Landscape files.
 *
 * @example
 * ```ts ignore
 * import { TopTaggingReader } from "@mpm/webgpu/data";
 * const r = TopTaggingReader.open("train.h5");
 * const block = await r.read(0, 10000); // kinematics-only, labels 0 QCD / 1 top
 * r.close();
 * ```
 */
export class TopTaggingReader implements JetSource {
  readonly path: string;
  readonly n: number;
  readonly nParticles: number;
  readonly classNames: readonly string[] = TOPTAG_CLASSES;
  /** Constituent slots in the file (200 in the published files). */
  readonly slots: number;
  #frame: PandasFrame;

  private constructor(frame: PandasFrame, slots: number, nParticles: number) {
    this.#frame = frame;
    this.path = frame.path;
    this.n = frame.n;
    this.slots = slots;
    this.nParticles = nParticles;
  }

  /**
   * Opens a file.
   *
   * @param path a `train.h5`, `val.h5` or `test.h5`
   * @param o `nParticles` slots kept (default 128); `key` of the frame (default `table`)
   * @throws {DataError} when the frame lacks the constituent or label columns
   */
  static open(path: string, o: { nParticles?: number; key?: string } = {}): TopTaggingReader {
    const frame = PandasFrame.open(path, o.key ?? "table");
    let slots = 0;
    while (frame.has(`PX_${slots}`)) slots++;
    const missing = ["PX_0", "PY_0", "PZ_0", "is_signal_new"].filter((c) => !frame.has(c));
    if (!slots || missing.length) {
      frame.close();
      throw new DataError(
        { file: path, field: missing[0] ?? "PX_0" },
        `not a Top Tagging Landscape frame (columns missing: [${missing}])`,
        "give train.h5, val.h5 or test.h5 from Zenodo record 2603256",
      );
    }
    return new TopTaggingReader(frame, slots, o.nParticles ?? 128);
  }

  read(start: number, count: number): Promise<JetBlock> {
    const S = this.slots, P = this.nParticles;
    const names = ["is_signal_new"];
    for (let i = 0; i < S; i++) names.push(`PX_${i}`, `PY_${i}`, `PZ_${i}`);
    const cols = this.#frame.read(names, start, count);
    const n = cols[0].length, block = emptyBlock(n, P, KINEMATIC_FEATURES);
    const px = new Float64Array(S), py = new Float64Array(S), pz = new Float64Array(S);
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < S; i++) {
        // The reference reads the constituents as float32.
        px[i] = Math.fround(cols[1 + 3 * i][j]);
        py[i] = Math.fround(cols[2 + 3 * i][j]);
        pz[i] = Math.fround(cols[3 + 3 * i][j]);
      }
      const k = jetKinematics({ px, py, pz }, P, { referenceEta: true });
      k.order.forEach((_, r) => {
        const o = (j * P + r) * 3;
        block.csts[o] = k.pt[r];
        block.csts[o + 1] = k.deta[r];
        block.csts[o + 2] = k.dphi[r];
        block.valid[j * P + r] = 1;
      });
      block.jets!.set([k.jet.pt, k.jet.eta, k.jet.phi, k.jet.mass, k.total], j * 5);
      const label = cols[0][j];
      if (label !== 0 && label !== 1) {
        throw new DataError(
          { file: this.path, field: "is_signal_new", row: start + j },
          `label ${label} (the dataset's labels are 0 and 1)`,
          "give a file of this dataset",
        );
      }
      block.labels![j] = label;
    }
    return Promise.resolve(block);
  }

  close(): void {
    this.#frame.close();
  }
}
