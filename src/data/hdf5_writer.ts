/**
 * Writing jet files in the reference layout, chunked, under a temporary name renamed into place
 * on close (see `hdf5.ts` for the layout).
 *
 * @module
 */
import { type H5Dataset, type H5File, openH5 } from "./_h5.ts";
import { DataError } from "./errors.ts";
import type { JetBlock } from "./types.ts";
import { tempPathFor } from "../io/files.ts";

/** Options of {@linkcode JetFileWriter.create}. */
export interface JetFileWriterOptions {
  /** Particle slots per jet. */
  nParticles: number;
  /** Feature names (stored in the `features` attribute of `csts`). */
  features: readonly string[];
  /** Write `csts_id`. Default true. */
  ids?: boolean;
  /** Write `labels`. Default true. */
  labels?: boolean;
  /** Write `jets`. Default true. */
  jets?: boolean;
  /** Write the BTag datasets with this many vertex slots. */
  btagVertices?: number;
  /** Rows per HDF5 chunk. Default 1000 (as the reference's combined files). */
  chunkRows?: number;
  /**
   * Class names by label: stored on `labels` as the attributes `classes` (their number, which
   * fixes the label space) and `class_names` (comma-separated).
   */
  classNames?: readonly string[];
}

function int64(src: Int32Array): BigInt64Array {
  const out = new BigInt64Array(src.length);
  const w = new Int32Array(out.buffer);
  for (let i = 0; i < src.length; i++) {
    w[2 * i] = src[i];
    w[2 * i + 1] = src[i] < 0 ? -1 : 0;
  }
  return out;
}

/**
 * Writes a jet file block by block into resizable chunked datasets. The file is written under
 * a temporary name and renamed on {@linkcode JetFileWriter.close}, so a crash never leaves a
 * half-written file at the target path.
 *
 * @example
 * ```ts ignore
 * const w = JetFileWriter.create("out.h5", { nParticles: 128, features: JETCLASS_FEATURES });
 * w.append(block);
 * w.close();
 * ```
 */
export class JetFileWriter {
  /** Target path. */
  readonly path: string;
  /** Jets written so far. */
  n = 0;
  #tmp: string;
  #file: H5File;
  #o: Required<JetFileWriterOptions>;

  private constructor(path: string, tmp: string, file: H5File, o: Required<JetFileWriterOptions>) {
    this.path = path;
    this.#tmp = tmp;
    this.#file = file;
    this.#o = o;
  }

  /** Creates the file (under a temporary name) with empty resizable datasets. */
  static create(path: string, options: JetFileWriterOptions): JetFileWriter {
    const o: Required<JetFileWriterOptions> = {
      ids: true,
      labels: true,
      jets: true,
      chunkRows: 1000,
      btagVertices: 0,
      ...options,
      classNames: options.classNames ?? [],
    };
    const tmp = tempPathFor(path);
    const file = openH5(tmp, "w");
    const P = o.nParticles, F = o.features.length, c = o.chunkRows;
    const make = (name: string, dims: number[], dtype: string, data: ArrayBufferView) => {
      file.create_dataset({
        name,
        data: data as unknown as Float32Array,
        shape: [0, ...dims],
        maxshape: [null, ...dims],
        chunks: [c, ...dims],
        dtype,
      });
    };
    make("csts", [P, F], "<f", new Float32Array(0));
    (file.get("csts") as H5Dataset).create_attribute("features", o.features.join(","));
    make("mask", [P], "|b1", new Int8Array(0));
    if (o.ids) make("csts_id", [P], "<q", new BigInt64Array(0));
    if (o.labels) {
      make("labels", [], "<q", new BigInt64Array(0));
      if (o.classNames.length) {
        const labels = file.get("labels") as H5Dataset;
        labels.create_attribute("classes", o.classNames.length, null, "<i");
        labels.create_attribute("class_names", o.classNames.join(","));
      }
    }
    if (o.jets) {
      make(
        "jets",
        [5],
        o.btagVertices ? "<f" : "<d",
        o.btagVertices ? new Float32Array(0) : new Float64Array(0),
      );
    }
    if (o.btagVertices) {
      make("vtx_id", [P], "<q", new BigInt64Array(0));
      make("track_type", [P], "<q", new BigInt64Array(0));
      make("vtx_pos", [o.btagVertices, 4], "<f", new Float32Array(0));
    }
    return new JetFileWriter(path, tmp, file, o);
  }

  /** Appends a block (its layout must match the options). */
  append(block: JetBlock): void {
    const o = this.#o, s = this.n, e = s + block.n;
    if (block.nParticles !== o.nParticles || block.features.length !== o.features.length) {
      throw new DataError(
        { file: this.path, field: "csts" },
        `block is (${block.nParticles}, ${block.features.length}), file is (${o.nParticles}, ${o.features.length})`,
        "append blocks of the file's layout",
      );
    }
    const put = (name: string, data: ArrayBufferView, rowShape: number[]) => {
      const ds = this.#file.get(name) as H5Dataset;
      ds.resize([e, ...rowShape]);
      ds.write_slice([[s, e]], data as unknown as Float32Array);
    };
    put("csts", block.csts, [o.nParticles, o.features.length]);
    put("mask", Int8Array.from(block.valid), [o.nParticles]);
    if (o.ids) {
      put("csts_id", int64(block.ids ?? new Int32Array(block.n * o.nParticles)), [o.nParticles]);
    }
    if (o.labels) put("labels", int64(block.labels ?? new Int32Array(block.n)), []);
    if (o.jets) {
      const j = block.jets ?? new Float32Array(block.n * 5);
      put("jets", o.btagVertices ? j : Float64Array.from(j), [5]);
    }
    if (o.btagVertices) {
      put("vtx_id", int64(block.vtxId!), [o.nParticles]);
      put("track_type", int64(block.trackType!), [o.nParticles]);
      put("vtx_pos", padVertices(this.path, block, o.btagVertices), [o.btagVertices, 4]);
    }
    this.n = e;
  }

  /** Flushes, closes and atomically renames the file into place. */
  close(): void {
    this.#file.flush();
    this.#file.close();
    Deno.renameSync(this.#tmp, this.path);
  }

  /** Closes and deletes the partial file (after an error). */
  abort(): void {
    try {
      this.#file.close();
    } catch { /* already closed */ }
    try {
      Deno.removeSync(this.#tmp);
    } catch { /* nothing to remove */ }
  }
}

/** The block's `vtxPos` with `V` vertex slots per jet (zero-padded; never truncated). */
function padVertices(path: string, block: JetBlock, V: number): Float32Array {
  const W = block.nVertices ?? V;
  if (W === V) return block.vtxPos!;
  if (W > V) {
    throw new DataError(
      { file: path, field: "vtx_pos" },
      `block has ${W} vertex slots, the file ${V}`,
      "create the file with btagVertices at least the largest vertex count",
    );
  }
  const out = new Float32Array(block.n * V * 4);
  for (let j = 0; j < block.n; j++) {
    out.set(block.vtxPos!.subarray(j * W * 4, (j + 1) * W * 4), j * V * 4);
  }
  return out;
}

/**
 * Writes one block to a new file (with the class names, when given, as attributes of
 * `labels`).
 *
 * @example
 * ```ts ignore
 * writeJetFile("jets.h5", synthJetClass(1000));
 * ```
 */
export function writeJetFile(
  path: string,
  block: JetBlock,
  o: { classNames?: readonly string[] } = {},
): void {
  const w = JetFileWriter.create(path, {
    classNames: o.classNames,
    nParticles: block.nParticles,
    features: block.features,
    ids: !!block.ids,
    labels: !!block.labels,
    jets: !!block.jets,
    btagVertices: block.vtxId ? (block.nVertices ?? 4) : 0,
  });
  try {
    w.append(block);
    w.close();
  } catch (e) {
    w.abort();
    throw e;
  }
}
