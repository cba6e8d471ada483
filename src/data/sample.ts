/**
 * A sample of jets drawn across many files, in proportion to their sizes (for fitting
 * preprocessing): each file contributes blocks of consecutive jets at evenly spread, seeded
 * positions, so one-class-per-file data sets are sampled across classes and the first jets of the
 * first file are not over-represented.
 *
 * @module
 */
import { DataError } from "./errors.ts";
import { JetFileReader } from "./hdf5.ts";
import { Rng } from "./rng.ts";
import type { JetBlock } from "./types.ts";

/** Jets per contiguous block of a sample. */
const BLOCK = 500;

/**
 * About `n` jets drawn from `files` in proportion to their sizes.
 *
 * @param files HDF5 jet files
 * @param n jets wanted (all jets when the files hold fewer)
 * @param seed position seed
 * @returns the sampled blocks (one or more per file)
 * @example
 * ```ts ignore
 * import { QuantileTransform, sampleJets } from "@mpm/webgpu/data";
 * const pre = QuantileTransform.fit(sampleJets(["a.h5", "b.h5"], 20000, 0));
 * ```
 */
export function sampleJets(files: readonly string[], n: number, seed = 0): JetBlock[] {
  const readers = files.map((f) => JetFileReader.open(f));
  try {
    const first = readers[0].info;
    for (const r of readers) {
      if (
        r.info.nParticles !== first.nParticles || r.info.features.join() !== first.features.join()
      ) {
        throw new DataError(
          { file: r.info.path, field: "csts" },
          `layout (${r.info.nParticles} particles, [${r.info.features}]) differs from ${first.path} (${first.nParticles}, [${first.features}])`,
          "load files of one layout together",
        );
      }
    }
    const total = readers.reduce((s, r) => s + r.info.n, 0);
    if (total === 0) {
      throw new DataError({ file: files.join(", ") }, "holds no jets", "give files with jets");
    }
    const out: JetBlock[] = [];
    readers.forEach((r, f) => {
      const want = Math.min(r.info.n, Math.max(1, Math.round((n * r.info.n) / Math.max(total, 1))));
      if (want >= r.info.n) {
        out.push(r.read(0, r.info.n));
        return;
      }
      const blocks = Math.ceil(want / BLOCK), stride = r.info.n / blocks;
      const rng = new Rng(seed ^ 0x73616d70, f);
      for (let b = 0; b < blocks; b++) {
        const size = Math.min(BLOCK, want - b * BLOCK);
        const lo = Math.floor(b * stride), hi = Math.max(lo, Math.floor((b + 1) * stride) - size);
        out.push(r.read(lo + Math.floor(rng.u() * (hi - lo + 1)), size));
      }
    });
    return out;
  } finally {
    for (const r of readers) r.close();
  }
}
