/**
 * A pandas `HDFStore` frame read with in both layouts pandas writes
 * (`DataFrame.to_hdf(path, key)`):
 *
 * - `fixed` (the default): a group `key` with `blockK_items` (column names) and
 *   `blockK_values` (rows x columns), one block per dtype;
 * - `table`: a compound dataset `key/table` with one array field `values_block_K` per dtype,
 *   whose column names are a protocol-0 pickle in the attribute `values_block_K_kind`.
 *
 * Columns are read by name over a row range, whatever block holds them.
 *
 * @module
 */
import { type H5Dataset, type H5File, hdf5Cause, Hdf5PermissionError, openH5 } from "../_h5.ts";
import { DataError } from "../errors.ts";

interface Block {
  names: string[];
  /** fixed: the values dataset; table: the field name. */
  source: string;
}

/** A pandas frame in an HDF5 file, read column-wise by row ranges. */
export class PandasFrame {
  /** File path. */
  readonly path: string;
  /** Store key. */
  readonly key: string;
  /** Rows. */
  readonly n: number;
  /** "fixed" or "table". */
  readonly format: "fixed" | "table";
  /** Column names, in frame order. */
  readonly columns: readonly string[];
  #file: H5File;
  #blocks: Block[];
  #where = new Map<string, { block: number; col: number }>();

  private constructor(
    path: string,
    key: string,
    file: H5File,
    format: "fixed" | "table",
    blocks: Block[],
    n: number,
  ) {
    this.path = path;
    this.key = key;
    this.#file = file;
    this.format = format;
    this.#blocks = blocks;
    this.n = n;
    blocks.forEach((b, block) =>
      b.names.forEach((name, col) => this.#where.set(name, { block, col }))
    );
    this.columns = blocks.flatMap((b) => b.names);
  }

  /**
   * Opens the frame stored under `key`.
   *
   * @throws {DataError} when the file is not HDF5, or holds no pandas frame under `key`
   */
  static open(path: string, key = "table"): PandasFrame {
    let file: H5File;
    try {
      file = openH5(path, "r");
    } catch (e) {
      if (e instanceof Hdf5PermissionError) throw e;
      throw new DataError(
        { file: path },
        `not a readable HDF5 file (${hdf5Cause(e)})`,
        "check the path",
      );
    }
    const fail = (why: string): never => {
      file.close();
      throw new DataError(
        { file: path, field: key },
        why,
        "give the file as pandas wrote it (DataFrame.to_hdf), with --key naming its frame",
      );
    };
    const g = file.get(key);
    if (!g || !("keys" in g)) return fail(`no pandas frame under "${key}"`);
    const members = (g as unknown as { keys(): string[] }).keys();
    if (members.includes("table")) {
      const t = file.get(`${key}/table`) as H5Dataset;
      const fields = (t.metadata?.compound_type?.members ?? []).map((m) => m.name as string)
        .filter((f) => f.startsWith("values_block_"));
      const blocks = fields.map((f) => {
        const names = unpickleStrings(String(t.attrs?.[`${f}_kind`]?.value ?? ""));
        if (!names.length) fail(`attribute ${f}_kind names no columns`);
        return { names, source: f };
      });
      return new PandasFrame(path, key, file, "table", blocks, Number(t.shape?.[0] ?? 0));
    }
    const nblocks = Number(g.attrs?.["nblocks"]?.value ?? NaN);
    if (!Number.isInteger(nblocks)) return fail("neither a fixed-format frame nor a table");
    const blocks: Block[] = [];
    let n = 0;
    for (let k = 0; k < nblocks; k++) {
      const items = file.get(`${key}/block${k}_items`) as H5Dataset | null;
      const values = file.get(`${key}/block${k}_values`) as H5Dataset | null;
      if (!items || !values) return fail(`block${k}_items or block${k}_values missing`);
      const names = (items.value as unknown as string[]).map(String);
      const shape = values.shape ?? [];
      if (shape.length !== 2 || shape[1] !== names.length) {
        return fail(`block${k}_values is [${shape}], its items name ${names.length} columns`);
      }
      n = shape[0];
      blocks.push({ names, source: `${key}/block${k}_values` });
    }
    return new PandasFrame(path, key, file, "fixed", blocks, n);
  }

  /** Whether the frame has column `name`. */
  has(name: string): boolean {
    return this.#where.has(name);
  }

  /**
   * Columns `names` over rows [start, start + count), as one Float64Array per column.
   *
   * @throws {DataError} naming a missing column
   */
  read(names: readonly string[], start: number, count: number): Float64Array[] {
    const s = Math.max(0, Math.min(start, this.n)), e = Math.min(this.n, s + count), rows = e - s;
    const out = names.map(() => new Float64Array(rows));
    const byBlock = new Map<number, { out: number; col: number }[]>();
    names.forEach((name, i) => {
      const w = this.#where.get(name);
      if (!w) {
        throw new DataError(
          { file: this.path, field: name },
          `column missing from the frame (it has ${this.columns.length} columns, e.g. [${
            this.columns.slice(0, 6)
          }])`,
          "give a file of this dataset",
        );
      }
      byBlock.set(w.block, [...(byBlock.get(w.block) ?? []), { out: i, col: w.col }]);
    });
    if (!rows) return out;
    try {
      if (this.format === "fixed") {
        for (const [b, cols] of byBlock) {
          const ds = this.#file.get(this.#blocks[b].source) as H5Dataset;
          const width = this.#blocks[b].names.length;
          const v = ds.slice([[s, e]]) as ArrayLike<number | bigint>;
          for (let r = 0; r < rows; r++) {
            for (const c of cols) out[c.out][r] = Number(v[r * width + c.col]);
          }
        }
      } else {
        const t = this.#file.get(`${this.key}/table`) as H5Dataset;
        const fields = (t.metadata?.compound_type?.members ?? []).map((m) => m.name as string);
        const recs = t.slice([[s, e]]) as unknown as unknown[][];
        for (const [b, cols] of byBlock) {
          const f = fields.indexOf(this.#blocks[b].source);
          for (let r = 0; r < rows; r++) {
            const v = recs[r][f] as ArrayLike<number | bigint>;
            for (const c of cols) out[c.out][r] = Number(v[c.col]);
          }
        }
      }
    } catch (err) {
      if (err instanceof DataError) throw err;
      throw new DataError(
        { file: this.path, field: this.key, row: s },
        `reading rows ${s}..${e} failed (${hdf5Cause(err)})`,
        "the file is corrupt or truncated; download it again",
      );
    }
    return out;
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }
}

/**
 * The strings of a protocol-0 pickled list of str, as pandas stores column names
 * (`(lp0\nVE_0\np1\naVPX_0\n...`): each `V` opcode line holds one raw-unicode-escaped string.
 */
export function unpickleStrings(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^a?V(.*)$/.exec(line);
    if (m) {
      out.push(
        m[1].replace(/\\u([0-9a-fA-F]{4})/g, (_, h) => String.fromCharCode(parseInt(h, 16))),
      );
    }
  }
  return out;
}
