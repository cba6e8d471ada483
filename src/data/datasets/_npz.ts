/**
 * NumPy `.npz` archives (`np.savez`, `np.savez_compressed`): a zip file (stored or deflated
 * entries, zip64 sizes understood) of `.npy` arrays. Arrays stream row by row through the
 * platform's `DecompressionStream`, so a file larger than memory converts in bounded memory.
 *
 * @module
 */
import { DataError } from "../errors.ts";

/** An array's header. */
export interface NpyHeader {
  /** NumPy dtype string, e.g. `<f8`. */
  descr: string;
  /** Array shape. */
  shape: number[];
  /** Column-major storage (refused: numpy writes C order by default). */
  fortranOrder: boolean;
}

interface Entry {
  name: string;
  method: number;
  compressed: number;
  localOffset: number;
}

const ELEMENT: Record<string, { bytes: number; get: (v: DataView, o: number) => number }> = {
  "<f8": { bytes: 8, get: (v, o) => v.getFloat64(o, true) },
  "<f4": { bytes: 4, get: (v, o) => v.getFloat32(o, true) },
  "<i8": { bytes: 8, get: (v, o) => Number(v.getBigInt64(o, true)) },
  "<i4": { bytes: 4, get: (v, o) => v.getInt32(o, true) },
  "|b1": { bytes: 1, get: (v, o) => v.getUint8(o) },
  "|u1": { bytes: 1, get: (v, o) => v.getUint8(o) },
};

/** A `.npz` archive. */
export class NpzFile {
  /** File path. */
  readonly path: string;
  #entries: Map<string, Entry>;

  private constructor(path: string, entries: Map<string, Entry>) {
    this.path = path;
    this.#entries = entries;
  }

  /** Array names (without `.npy`). */
  get names(): string[] {
    return [...this.#entries.keys()];
  }

  /**
   * Opens an archive and reads its central directory.
   *
   * @throws {DataError} when the file is missing or not a zip archive
   */
  static async open(path: string): Promise<NpzFile> {
    let size: number;
    try {
      size = (await Deno.stat(path)).size;
    } catch {
      throw new DataError({ file: path }, "file not found", "check the path");
    }
    const bad = (why: string): never => {
      throw new DataError(
        { file: path },
        `not a NumPy .npz archive (${why})`,
        "give the .npz file as numpy wrote it; re-download it if it is truncated",
      );
    };
    const tailLen = Math.min(size, 65557);
    const tail = await readRange(path, size - tailLen, tailLen);
    const tv = new DataView(tail.buffer);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tv.getUint32(i, true) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) bad("no zip end-of-directory record");
    let count = tv.getUint16(eocd + 10, true);
    let cdSize = tv.getUint32(eocd + 12, true), cdOffset = tv.getUint32(eocd + 16, true);
    if (cdOffset === 0xffffffff || count === 0xffff) {
      const loc = eocd - 20;
      if (loc < 0 || tv.getUint32(loc, true) !== 0x07064b50) bad("zip64 locator missing");
      const recOffset = Number(tv.getBigUint64(loc + 8, true));
      const rec = new DataView((await readRange(path, recOffset, 56)).buffer);
      if (rec.getUint32(0, true) !== 0x06064b50) bad("zip64 record missing");
      count = Number(rec.getBigUint64(32, true));
      cdSize = Number(rec.getBigUint64(40, true));
      cdOffset = Number(rec.getBigUint64(48, true));
    }
    const cd = await readRange(path, cdOffset, cdSize);
    const v = new DataView(cd.buffer);
    const entries = new Map<string, Entry>();
    let p = 0;
    for (let k = 0; k < count; k++) {
      if (p + 46 > cd.length || v.getUint32(p, true) !== 0x02014b50) bad("damaged directory");
      const method = v.getUint16(p + 10, true);
      let compressed = v.getUint32(p + 20, true);
      const uncompressed32 = v.getUint32(p + 24, true);
      const nameLen = v.getUint16(p + 28, true), extraLen = v.getUint16(p + 30, true);
      const commentLen = v.getUint16(p + 32, true);
      let localOffset = v.getUint32(p + 42, true);
      const name = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen));
      // zip64 extended sizes: the 0xffffffff fields, in order, in extra block 0x0001.
      let e = p + 46 + nameLen;
      const end = e + extraLen;
      while (e + 4 <= end) {
        const id = v.getUint16(e, true), len = v.getUint16(e + 2, true);
        if (id === 1) {
          let q = e + 4;
          if (uncompressed32 === 0xffffffff) q += 8;
          if (compressed === 0xffffffff) (compressed = Number(v.getBigUint64(q, true)), q += 8);
          if (localOffset === 0xffffffff) localOffset = Number(v.getBigUint64(q, true));
        }
        e += 4 + len;
      }
      if (method !== 0 && method !== 8) bad(`entry ${name} uses zip method ${method}`);
      entries.set(name.replace(/\.npy$/, ""), { name, method, compressed, localOffset });
      p = end + commentLen;
    }
    return new NpzFile(path, entries);
  }

  /** The raw (decompressed) bytes of array `name`, as a stream. */
  async #stream(name: string): Promise<ReadableStream<Uint8Array>> {
    const e = this.#entries.get(name);
    if (!e) {
      throw new DataError(
        { file: this.path, field: name },
        `array missing from the archive (it has [${this.names}])`,
        "give a file of this dataset",
      );
    }
    const head = new DataView((await readRange(this.path, e.localOffset, 30)).buffer);
    const start = e.localOffset + 30 + head.getUint16(26, true) + head.getUint16(28, true);
    const file = await Deno.open(this.path);
    await file.seek(start, Deno.SeekMode.Start);
    let left = e.compressed;
    const raw = new ReadableStream<Uint8Array>({
      async pull(ctrl) {
        if (left <= 0) {
          file.close();
          ctrl.close();
          return;
        }
        const buf = new Uint8Array(Math.min(left, 1 << 20));
        const got = await file.read(buf);
        if (!got) {
          file.close();
          ctrl.error(new Error("unexpected end of file"));
          return;
        }
        left -= got;
        ctrl.enqueue(buf.subarray(0, got));
      },
      cancel() {
        file.close();
      },
    });
    return e.method === 8
      ? raw.pipeThrough(
        new DecompressionStream("deflate-raw") as unknown as TransformStream<
          Uint8Array,
          Uint8Array
        >,
      )
      : raw;
  }

  /**
   * Streams array `name` in chunks of whole rows (first axis), as float64.
   *
   * @param name array name
   * @param rowsPerChunk rows per yielded chunk
   * @returns the header, then chunks `{ start, rows, data }`
   */
  async *rows(
    name: string,
    rowsPerChunk: number,
  ): AsyncGenerator<{ header: NpyHeader; start: number; rows: number; data: Float64Array }> {
    const reader = (await this.#stream(name)).getReader();
    const bytes = new ByteQueue(async () => {
      const { value, done } = await reader.read().catch((e) => {
        throw new DataError(
          { file: this.path, field: name },
          `decompression failed (${(e as Error).message})`,
          "the file is corrupt or truncated; download it again",
        );
      });
      return done ? null : value;
    });
    const header = await this.#header(name, bytes);
    const el = ELEMENT[header.descr];
    const rowElems = header.shape.slice(1).reduce((a, b) => a * b, 1);
    const rowBytes = rowElems * el.bytes, total = header.shape[0] ?? 1;
    for (let start = 0; start < total; start += rowsPerChunk) {
      const rows = Math.min(rowsPerChunk, total - start);
      const chunk = await bytes.take(rows * rowBytes);
      if (!chunk) {
        throw new DataError(
          { file: this.path, field: name, row: start },
          `array ends after about ${start} of ${total} rows`,
          "the file is truncated; download it again",
        );
      }
      const v = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      const data = new Float64Array(rows * rowElems);
      for (let i = 0; i < data.length; i++) data[i] = el.get(v, i * el.bytes);
      yield { header, start, rows, data };
    }
    await reader.cancel().catch(() => {});
  }

  /** The header of array `name`. */
  async header(name: string): Promise<NpyHeader> {
    const it = this.rows(name, 1);
    const first = await it.next();
    await it.return(undefined);
    return first.done ? { descr: "<f8", shape: [0], fortranOrder: false } : first.value.header;
  }

  /** Array `name` in full, as float64. */
  async read(name: string): Promise<{ header: NpyHeader; data: Float64Array }> {
    const parts: Float64Array[] = [];
    let header: NpyHeader | undefined;
    for await (const c of this.rows(name, 1 << 16)) {
      header = c.header;
      parts.push(c.data);
    }
    header ??= await this.header(name);
    const data = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) (data.set(p, o), o += p.length);
    return { header, data };
  }

  async #header(name: string, bytes: ByteQueue): Promise<NpyHeader> {
    const bad = (why: string): never => {
      throw new DataError(
        { file: this.path, field: name },
        `not a .npy array (${why})`,
        "give a file numpy wrote",
      );
    };
    const magic = await bytes.take(8) ?? bad("too short");
    if (magic[0] !== 0x93 || new TextDecoder().decode(magic.subarray(1, 6)) !== "NUMPY") {
      bad("no magic");
    }
    const lenBytes = magic[6] === 1 ? 2 : 4;
    const lb = await bytes.take(lenBytes) ?? bad("too short");
    const hlen = lenBytes === 2
      ? lb[0] | (lb[1] << 8)
      : new DataView(lb.buffer, lb.byteOffset).getUint32(0, true);
    const text = new TextDecoder().decode(await bytes.take(hlen) ?? bad("header cut short"));
    const descr = /'descr':\s*'([^']+)'/.exec(text)?.[1];
    const fortran = /'fortran_order':\s*(True|False)/.exec(text)?.[1] === "True";
    const shapeText = /'shape':\s*\(([^)]*)\)/.exec(text)?.[1];
    if (!descr || shapeText === undefined) bad(`header ${text.trim()}`);
    if (!ELEMENT[descr!]) {
      bad(`dtype ${descr} (float64, float32, int64, int32, bool, uint8 are read)`);
    }
    if (fortran) bad("Fortran-ordered (save it with np.ascontiguousarray)");
    const shape = shapeText!.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
    return { descr: descr!, shape, fortranOrder: fortran };
  }
}

/** Bytes from a pull source, taken in exact lengths (copied once). */
class ByteQueue {
  #parts: Uint8Array[] = [];
  #have = 0;
  #pull: () => Promise<Uint8Array | null>;

  constructor(pull: () => Promise<Uint8Array | null>) {
    this.#pull = pull;
  }

  /** The next `n` bytes, or null when the source ends first. */
  async take(n: number): Promise<Uint8Array | null> {
    while (this.#have < n) {
      const p = await this.#pull();
      if (!p) return null;
      this.#parts.push(p);
      this.#have += p.length;
    }
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      const p = this.#parts[0], k = Math.min(p.length, n - o);
      out.set(p.subarray(0, k), o);
      o += k;
      if (k === p.length) this.#parts.shift();
      else this.#parts[0] = p.subarray(k);
    }
    this.#have -= n;
    return out;
  }
}

async function readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
  const f = await Deno.open(path);
  try {
    await f.seek(offset, Deno.SeekMode.Start);
    const out = new Uint8Array(length);
    let got = 0;
    while (got < length) {
      const n = await f.read(out.subarray(got));
      if (!n) break;
      got += n;
    }
    return out.subarray(0, got);
  } finally {
    f.close();
  }
}
