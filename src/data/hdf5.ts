/**
 * HDF5 jet files in the reference layouts (mattcleigh/jetssl), read in chunks and written in
 * chunks through so files larger than memory stream.
 *
 * - JetClass-like: `csts` (N, P, F) float, `csts_id` (N, P) int, `mask` (N, P) bool,
 *   `labels` (N,) int, `jets` (N, 5) [pt, eta, phi, sdmass, n_csts].
 * - BTag-like: the same plus `vtx_id` (N, P) int, `track_type` (N, P) int, `vtx_pos` (N, V, 4).
 * - Kinematics-only: `csts` with 3 columns [pt, deta, dphi]; a string attribute `features` on
 *   `csts` (comma-separated) names the columns when present; `csts_id` may be absent.
 *
 * Files written by h5py read as-is (int64 arrives as BigInt64Array, h5py booleans as an int8
 * enum). Files written here store masks as int8 0/1 (h5wasm cannot create HDF5 enum types);
 * h5py reads them as int8, so use `mask.astype(bool)` there.
 *
 * @module
 */
import {
  type H5Dataset,
  type H5File,
  hdf5Cause,
  Hdf5PermissionError,
  openH5,
  SUPPORTED_FILTERS,
} from "./_h5.ts";
export { Hdf5PermissionError } from "./_h5.ts";
import { DataError } from "./errors.ts";
import { type JetBlock, JETCLASS_FEATURES, KINEMATIC_FEATURES } from "./types.ts";

export { JetFileWriter, type JetFileWriterOptions, writeJetFile } from "./hdf5_writer.ts";

/** What a jet file holds. */
export interface JetFileInfo {
  /** File path. */
  path: string;
  /** Number of jets. */
  n: number;
  /** Particle slots per jet. */
  nParticles: number;
  /** Continuous feature names, in column order. */
  features: readonly string[];
  /** Whether `csts_id`, `labels`, `jets` exist. */
  hasIds: boolean;
  /** Whether `labels` exists. */
  hasLabels: boolean;
  /** Whether `jets` exists. */
  hasJets: boolean;
  /** BTag-like (vertex and track-origin datasets present). */
  btag: boolean;
  /** Vertex slots in `vtx_pos` (BTag). */
  nVertices: number;
  /** Number of classes declared by a `classes` attribute (on `labels` or the file), if any. */
  classes?: number;
  /** Class names by label, from a `class_names` attribute on `labels`, if any. */
  classNames?: readonly string[];
}

function isFloat(d: H5Dataset): boolean {
  return /^[<>|]?[fed]$/.test(String(d.dtype));
}

function isIntLike(d: H5Dataset): boolean {
  const t = String(d.dtype);
  return /^[<>|]?[bhiqlBHIQL]$/.test(t) || d.metadata?.type === 8 /* enum (h5py bool) */ ||
    t === "bool";
}

function toInt32(data: unknown): Int32Array {
  if (data instanceof Int32Array) return data;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    const out = new Int32Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
    return out;
  }
  return Int32Array.from(data as ArrayLike<number>);
}

function toFloat32(data: unknown): Float32Array {
  return data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
}

function toMask(data: unknown): Uint8Array {
  const src = data as ArrayLike<number | boolean>;
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] ? 1 : 0;
  return out;
}

/** Opens an HDF5 file for reading, with one clear error for a missing, odd or corrupt file. */
function openHdf5(path: string): H5File {
  let stat: Deno.FileInfo;
  try {
    stat = Deno.statSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) {
      throw new DataError({ file: path }, "no permission to read it", "run with --allow-read");
    }
    throw new DataError(
      { file: path },
      "file not found",
      "check the path (or create data with `deno task data synth`)",
    );
  }
  if (!stat.isFile) throw new DataError({ file: path }, "not a file", "pass an .h5 file");
  try {
    const file = openH5(path, "r");
    file.keys();
    return file;
  } catch (e) {
    if (e instanceof Hdf5PermissionError) throw e;
    throw new DataError(
      { file: path },
      `not a readable HDF5 file (${hdf5Cause(e)})`,
      "the file is corrupt or truncated; re-create or re-download it",
    );
  }
}

/** Fails for a dataset compressed with a filter this HDF5 build cannot decode. */
function checkFilters(
  ds: Record<string, H5Dataset | undefined>,
  fail: (field: string, problem: string, fix: string) => never,
): void {
  for (const [name, d] of Object.entries(ds)) {
    const bad = (d?.filters ?? []).find((f) => !SUPPORTED_FILTERS.has(f.id));
    if (bad) {
      fail(
        name,
        `compressed with the HDF5 filter "${bad.name}" (id ${bad.id}), which this reader cannot decode`,
        're-save the file uncompressed or with gzip (h5repack -f GZIP=4 IN.h5 OUT.h5, or compression="gzip" in h5py)',
      );
    }
  }
}

/**
 * Reads a jet file block by block.
 *
 * @example
 * ```ts ignore
 * const reader = JetFileReader.open("train.h5");
 * const block = reader.read(0, 1000); // jets 0..999
 * reader.close();
 * ```
 */
export class JetFileReader {
  /** Layout of the file. */
  readonly info: JetFileInfo;
  #file: H5File;
  #ds: Record<string, H5Dataset | undefined> = {};

  private constructor(file: H5File, info: JetFileInfo, ds: Record<string, H5Dataset | undefined>) {
    this.#file = file;
    this.info = info;
    this.#ds = ds;
  }

  /**
   * Opens and validates a file (datasets, shapes, dtypes).
   *
   * @throws {DataError} naming the file, dataset and fix when anything is missing or wrong.
   */
  static open(path: string): JetFileReader {
    const file = openHdf5(path);
    const keys = new Set(file.keys());
    const get = (name: string) => (keys.has(name) ? file.get(name) as H5Dataset : undefined);
    const fail = (field: string, problem: string, fix: string): never => {
      file.close();
      throw new DataError({ file: path, field }, problem, fix);
    };
    const csts = get("csts") ??
      fail(
        "csts",
        "dataset missing",
        "a jet file needs `csts` (N, P, F) and `mask` (N, P); see README 'HDF5 layouts'",
      );
    const mask = get("mask") ??
      fail("mask", "dataset missing", "add a boolean `mask` (N, P), true for real particles");
    const shape = csts.shape ?? [];
    if (shape.length !== 3) {
      fail(
        "csts",
        `expected 3 dimensions (N, P, F), got shape [${shape}]`,
        "store particles as (jets, particles, features)",
      );
    }
    if (!isFloat(csts)) {
      fail("csts", `dtype ${csts.dtype} is not floating point`, "store features as float32");
    }
    const [n, nParticles, nf] = shape as number[];
    let features: readonly string[];
    const attr = csts.attrs?.["features"]?.value;
    if (typeof attr === "string") features = attr.split(",").map((s) => s.trim());
    else if (nf === 7) features = JETCLASS_FEATURES;
    else if (nf === 3) features = KINEMATIC_FEATURES;
    else {
      return fail(
        "csts",
        `${nf} feature columns and no \`features\` attribute`,
        "add a comma-separated string attribute `features` to `csts` naming the columns",
      );
    }
    if (features.length !== nf) {
      fail(
        "csts",
        `attribute features names ${features.length} columns, data has ${nf}`,
        "make the attribute match the columns",
      );
    }
    const check2 = (name: string, ds: H5Dataset | undefined, dims: number[], intLike: boolean) => {
      if (!ds) return;
      const s = ds.shape ?? [];
      if (s.length !== dims.length || s.some((v, i) => dims[i] >= 0 && v !== dims[i])) {
        fail(
          name,
          `shape [${s}] does not match [${dims.map((d) => (d < 0 ? "*" : d))}]`,
          `store ${name} with one row per jet of csts`,
        );
      }
      if (intLike && !isIntLike(ds)) {
        fail(name, `dtype ${ds.dtype} is not an integer/boolean type`, `store ${name} as integers`);
      }
      if (!intLike && !isFloat(ds)) {
        fail(name, `dtype ${ds.dtype} is not floating point`, `store ${name} as float`);
      }
    };
    check2("mask", mask, [n, nParticles], true);
    const ds: Record<string, H5Dataset | undefined> = {
      csts,
      mask,
      csts_id: get("csts_id"),
      labels: get("labels"),
      jets: get("jets"),
      vtx_id: get("vtx_id"),
      track_type: get("track_type"),
      vtx_pos: get("vtx_pos"),
    };
    check2("csts_id", ds.csts_id, [n, nParticles], true);
    check2("labels", ds.labels, [n], true);
    check2("jets", ds.jets, [n, -1], false);
    check2("vtx_id", ds.vtx_id, [n, nParticles], true);
    check2("track_type", ds.track_type, [n, nParticles], true);
    check2("vtx_pos", ds.vtx_pos, [n, -1, 4], false);
    checkFilters(ds, fail);
    const classesAttr = Number(
      ds.labels?.attrs?.["classes"]?.value ?? file.attrs?.["classes"]?.value,
    );
    const btag = !!(ds.vtx_id && ds.track_type);
    const names = ds.labels?.attrs?.["class_names"]?.value;
    return new JetFileReader(file, {
      path,
      n,
      nParticles,
      features,
      hasIds: !!ds.csts_id,
      hasLabels: !!ds.labels,
      hasJets: !!ds.jets,
      btag,
      nVertices: ds.vtx_pos ? (ds.vtx_pos.shape as number[])[1] : 0,
      classes: Number.isInteger(classesAttr) && classesAttr > 0 ? classesAttr : undefined,
      classNames: typeof names === "string" ? names.split(",") : undefined,
    }, ds);
  }

  /**
   * Reads jets [start, start + count) (clamped to the file) as a {@linkcode JetBlock}.
   *
   * @throws {DataError} when the file is truncated or a read fails.
   */
  read(start: number, count: number): JetBlock {
    const { n, nParticles, features, path } = this.info;
    const s = Math.max(0, Math.min(start, n)), e = Math.min(n, s + count);
    const ds = this.#ds;
    const slice = (name: string) => {
      try {
        return ds[name]!.slice([[s, e]]);
      } catch (err) {
        throw new DataError(
          { file: path, field: name, row: s },
          `read of rows ${s}..${e} failed (${hdf5Cause(err)})`,
          "the file is truncated or corrupt; re-create it",
        );
      }
    };
    const block: JetBlock = {
      n: e - s,
      nParticles,
      features,
      csts: toFloat32(slice("csts")),
      valid: toMask(slice("mask")),
    };
    if (ds.csts_id) block.ids = toInt32(slice("csts_id"));
    if (ds.labels) block.labels = toInt32(slice("labels"));
    if (ds.jets) {
      const j = toFloat32(slice("jets"));
      const w = (ds.jets.shape as number[])[1];
      block.jets = w === 5 ? j : Float32Array.from(
        { length: block.n * 5 },
        (_, i) => (i % 5 < w ? j[Math.floor(i / 5) * w + (i % 5)] : 0),
      );
    }
    if (ds.vtx_id) block.vtxId = toInt32(slice("vtx_id"));
    if (ds.track_type) block.trackType = toInt32(slice("track_type"));
    if (ds.vtx_pos) {
      block.vtxPos = toFloat32(slice("vtx_pos"));
      block.nVertices = this.info.nVertices;
    }
    return block;
  }

  /** Every jet's label (the `labels` dataset alone, read in one piece), or null without labels. */
  readLabels(): Int32Array | null {
    const d = this.#ds.labels;
    if (!d) return null;
    try {
      return toInt32(d.value);
    } catch (err) {
      throw new DataError(
        { file: this.info.path, field: "labels" },
        `read failed (${hdf5Cause(err)})`,
        "the file is truncated or corrupt; re-create it",
      );
    }
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }
}
