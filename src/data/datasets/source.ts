/**
 * The one interface every dataset reader implements, so `deno task data convert` (and a user's
 * script) streams any of them into the library's HDF5 layout the same way.
 *
 * @module
 */
import type { JetBlock } from "../types.ts";

/** A readable collection of jets in some dataset's own format. */
export interface JetSource {
  /** File path. */
  readonly path: string;
  /** Number of jets. */
  readonly n: number;
  /** Particle slots of the blocks it returns. */
  readonly nParticles: number;
  /** Vertex slots of the blocks' `vtxPos` (BTag-like sources). */
  readonly nVertices?: number;
  /** Class names by label, when the dataset defines them. */
  readonly classNames?: readonly string[];
  /** Jets [start, start + count) (clamped) in the library's layout. */
  read(start: number, count: number): Promise<JetBlock>;
  /** Releases the file. */
  close(): void;
}

/**
 * Allocates an empty block of `n` jets (labels and `jets` included unless asked otherwise).
 *
 * @param n jets
 * @param nParticles slots per jet
 * @param features feature names
 * @param o `ids` to allocate types; `labels: false` to leave labels out
 * @returns the zeroed block
 * @example
 * ```ts
 * import { emptyBlock } from "@mpm/webgpu/data";
 * const b = emptyBlock(2, 4, ["pt", "deta", "dphi"], { ids: true });
 * console.assert(b.csts.length === 24 && b.ids!.length === 8 && b.labels!.length === 2);
 * ```
 */
export function emptyBlock(
  n: number,
  nParticles: number,
  features: readonly string[],
  o: { ids?: boolean; labels?: boolean } = {},
): JetBlock {
  return {
    n,
    nParticles,
    features,
    csts: new Float32Array(n * nParticles * features.length),
    valid: new Uint8Array(n * nParticles),
    ids: o.ids ? new Int32Array(n * nParticles) : undefined,
    labels: o.labels === false ? undefined : new Int32Array(n),
    jets: new Float32Array(n * 5),
  };
}
