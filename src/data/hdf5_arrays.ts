/**
 * HDF5 files of named arrays that are not jets: embeddings, predictions. Written under a
 * temporary name and renamed into place on `close()`, like jet files; every dataset has the same
 * number of rows, filled in slices so outputs larger than memory stream.
 *
 * @module
 */
import { type H5Dataset, h5wasm, openH5 } from "./_h5.ts";
import { tempPathFor } from "../io/files.ts";

/** Element types of {@linkcode ArrayFileWriter} datasets. */
export type ArrayDType = "f32" | "i64" | "i8" | "string";

/** One dataset of an {@linkcode ArrayFileWriter}. */
export interface ArraySpec {
  /** Dataset name. */
  name: string;
  /** Shape of one row (after the leading row axis); `[]` for one value per row. */
  rowShape: readonly number[];
  /** Stored element type (`i64` is what h5py and pandas read as int64; `i8` for masks). */
  dtype: ArrayDType;
}

const H5_DTYPE: Record<Exclude<ArrayDType, "string">, string> = {
  f32: "<f",
  i64: "<q",
  i8: "|b1",
};

function encode(dtype: ArrayDType, data: ArrayLike<number>): ArrayBufferView {
  if (dtype === "f32") return data instanceof Float32Array ? data : Float32Array.from(data);
  if (dtype === "i64") return BigInt64Array.from(data as ArrayLike<number>, (v) => BigInt(v));
  return Int8Array.from(data as ArrayLike<number>);
}

/**
 * Writes fixed-size named arrays to a new HDF5 file.
 *
 * @example
 * ```ts ignore
 * import { ArrayFileWriter } from "@mpm/webgpu/data";
 * const w = ArrayFileWriter.create("emb.h5", 100, [{ name: "x", rowShape: [8], dtype: "f32" }]);
 * w.write("x", 0, new Float32Array(50 * 8));
 * w.write("x", 50, new Float32Array(50 * 8));
 * w.close();
 * ```
 */
export class ArrayFileWriter {
  /** Final path. */
  readonly path: string;
  /** Rows of every dataset. */
  readonly rows: number;
  #tmp: string;
  #file: InstanceType<typeof h5wasm.File>;
  #specs = new Map<string, ArraySpec>();

  private constructor(path: string, rows: number) {
    this.path = path;
    this.rows = rows;
    this.#tmp = tempPathFor(path);
    this.#file = openH5(this.#tmp, "w");
  }

  /**
   * Creates the file (under a temporary name) with zero-filled datasets of `rows` rows.
   *
   * @param path final path
   * @param rows rows of every dataset
   * @param specs the datasets
   * @returns the writer
   */
  static create(path: string, rows: number, specs: readonly ArraySpec[]): ArrayFileWriter {
    const w = new ArrayFileWriter(path, rows);
    for (const s of specs) w.add(s);
    return w;
  }

  /** Adds a zero-filled dataset. */
  add(spec: ArraySpec): void {
    if (spec.dtype === "string") throw new TypeError("use writeStrings for string datasets");
    const n = this.rows * spec.rowShape.reduce((a, b) => a * b, 1);
    this.#file.create_dataset({
      name: spec.name,
      data: encode(spec.dtype, new Float32Array(n)) as unknown as Float32Array,
      shape: [this.rows, ...spec.rowShape],
      maxshape: [null, ...spec.rowShape],
      chunks: [Math.max(1, Math.min(this.rows, 1024)), ...spec.rowShape],
      dtype: H5_DTYPE[spec.dtype],
    });
    this.#specs.set(spec.name, spec);
  }

  /** Writes rows `start ..` of a dataset (the data's length sets how many). */
  write(name: string, start: number, data: ArrayLike<number>): void {
    const spec = this.#specs.get(name);
    if (!spec) throw new RangeError(`${this.path}: no dataset "${name}"`);
    const per = spec.rowShape.reduce((a, b) => a * b, 1);
    const count = data.length / Math.max(per, 1);
    if (!Number.isInteger(count) || start < 0 || start + count > this.rows) {
      throw new RangeError(
        `${this.path}: ${data.length} values are not whole rows of "${name}" ([${spec.rowShape}]) ` +
          `within rows ${start}..${this.rows}`,
      );
    }
    if (count === 0) return;
    (this.#file.get(name) as H5Dataset).write_slice(
      [[start, start + count]],
      encode(spec.dtype, data) as unknown as Float32Array,
    );
  }

  /** Writes a whole dataset of strings (one per row or any length), e.g. class names. */
  writeStrings(name: string, values: readonly string[]): void {
    this.#file.create_dataset({ name, data: [...values] });
  }

  /** Sets a string attribute on the file's root group. */
  attribute(name: string, value: string): void {
    this.#file.create_attribute(name, value);
  }

  /**
   * Flushes, closes and renames the file into place; `rows` (fewer than created, e.g. after
   * skipped jets) cuts every dataset to its first `rows` rows.
   */
  close(rows = this.rows): void {
    if (rows < this.rows) {
      for (const spec of this.#specs.values()) {
        (this.#file.get(spec.name) as H5Dataset).resize([rows, ...spec.rowShape]);
      }
    }
    this.#file.flush();
    this.#file.close();
    Deno.renameSync(this.#tmp, this.path);
  }

  /** Closes and deletes the partial file. */
  abort(): void {
    try {
      this.#file.close();
    } catch { /* closed */ }
    try {
      Deno.removeSync(this.#tmp);
    } catch { /* nothing to remove */ }
  }
}

/**
 * Reads every dataset of a small HDF5 file into memory (numbers as `Float64Array`-like arrays,
 * int64 converted to numbers; strings as arrays), with its shape.
 *
 * @param path the file
 * @returns datasets by name
 * @example
 * ```ts ignore
 * import { readArrays } from "@mpm/webgpu/data";
 * const { jet_logits } = readArrays("ft/predictions.h5");
 * ```
 */
export function readArrays(
  path: string,
): Record<string, { shape: number[]; data: ArrayLike<number> | string[] }> {
  const f = openH5(path, "r");
  try {
    const out: Record<string, { shape: number[]; data: ArrayLike<number> | string[] }> = {};
    for (const name of f.keys()) {
      const d = f.get(name);
      if (!(d instanceof h5wasm.Dataset)) continue;
      const v = d.value as unknown;
      const data = v instanceof BigInt64Array
        ? Array.from(v, Number)
        : Array.isArray(v)
        ? v.map(String)
        : v as ArrayLike<number>;
      out[name] = { shape: [...(d.shape ?? [])], data };
    }
    return out;
  } finally {
    f.close();
  }
}
