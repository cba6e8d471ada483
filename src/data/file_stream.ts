/**
 * One file's part of a loader: its selected jets (a contiguous split of the file, or explicit
 * rows for a stratified subset), visited in a seeded two-level shuffle — the order of windows of
 * `window` jets is permuted each epoch, then the jets within each window — with one window in
 * memory. Position k of an epoch maps to a jet without replaying the epoch.
 *
 * @module
 */
import type { JetFileReader } from "./hdf5.ts";
import { Rng } from "./rng.ts";
import type { JetBlock } from "./types.ts";

/** A permutation of 0..n-1 drawn from `r` (Fisher-Yates). */
export function permutation(n: number, r: Rng): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r.u() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** Which jets of a file a stream visits: a range [start, start + count), or explicit rows. */
export type Selection = { start: number; count: number } | { rows: Int32Array };

/**
 * The jets of one file, windowed and shuffled per epoch.
 *
 * @example
 * ```ts ignore
 * const s = new FileStream(reader, { start: 0, count: 1000 }, { window: 256, shuffle: true, seed: 1, file: 0 });
 * s.setEpoch(0);
 * const [block, j] = s.at(17); // jet 17 of this epoch's order: row j of the loaded window
 * ```
 */
export class FileStream {
  /** The file. */
  readonly reader: JetFileReader;
  /** Jets visited per epoch. */
  readonly length: number;
  #sel: Selection;
  #window: number;
  #shuffle: boolean;
  #seed: number;
  #file: number;
  #epoch = -1;
  #order: Int32Array = new Int32Array(0);
  #starts: Int32Array = new Int32Array(0);
  #loaded = -1;
  #block: JetBlock | null = null;
  #blockRows: ArrayLike<number> = new Int32Array(0);
  #perm: Int32Array = new Int32Array(0);
  #validate: (b: JetBlock, j: number, row: number) => boolean;

  /**
   * @param reader the open file
   * @param sel the jets to visit
   * @param o window size, shuffling, seed, the file's index (the first file's streams reproduce
   *   the single-file order of earlier versions), and a check that drops bad jets of a window
   */
  constructor(
    reader: JetFileReader,
    sel: Selection,
    o: {
      window: number;
      shuffle: boolean;
      seed: number;
      file: number;
      validate?: (b: JetBlock, j: number, row: number) => boolean;
    },
  ) {
    this.reader = reader;
    this.#sel = sel;
    this.length = "rows" in sel ? sel.rows.length : sel.count;
    this.#window = Math.max(1, o.window);
    this.#shuffle = o.shuffle;
    this.#seed = o.seed;
    this.#file = o.file;
    this.#validate = o.validate ?? (() => true);
  }

  /** Prepares the window order of `epoch`. */
  setEpoch(epoch: number): void {
    if (epoch === this.#epoch) return;
    this.#epoch = epoch;
    const W = this.#window, nWin = Math.ceil(this.length / W);
    const salt = this.#file === 0 ? 0 : Math.imul(this.#file, 0x9e3779b1);
    this.#order = this.#shuffle
      ? permutation(nWin, new Rng((this.#seed ^ 0x77696e64 ^ salt) >>> 0, epoch))
      : Int32Array.from({ length: nWin }, (_, i) => i);
    this.#starts = new Int32Array(nWin + 1);
    for (let w = 0; w < nWin; w++) {
      const src = this.#order[w];
      this.#starts[w + 1] = this.#starts[w] + Math.min(W, this.length - src * W);
    }
    this.#loaded = -1;
    this.#block = null;
  }

  /**
   * The jet at position `k` of the epoch: the loaded window's block, the jet's row in it and its
   * row in the file, or null when that jet was dropped as bad.
   */
  at(k: number): [JetBlock, number, number] | null {
    let w = Math.max(0, this.#loaded);
    while (this.#starts[w] > k) w--;
    while (this.#starts[w + 1] <= k) w++;
    this.#load(w);
    const i = k - this.#starts[w];
    if (i >= this.#perm.length) return null;
    const j = this.#perm[i];
    return [this.#block!, j, this.#blockRows[j]];
  }

  #load(w: number): void {
    if (w === this.#loaded) return;
    const W = this.#window, src = this.#order[w];
    const block = this.#read(src * W, Math.min(W, this.length - src * W));
    this.#block = block.block;
    this.#blockRows = block.rows;
    this.#loaded = w;
    const salt = this.#file === 0 ? 0 : Math.imul(this.#file, 0x85ebca6b);
    // Jets of the window that failed validation are left out; their positions give nothing.
    const keep = block.keep;
    const perm = this.#shuffle
      ? permutation(
        keep.length,
        new Rng((this.#seed ^ 0x6a657473 ^ salt) >>> 0, this.#epoch * 1_000_003 + src),
      )
      : Int32Array.from({ length: keep.length }, (_, i) => i);
    this.#perm = perm.map((i) => keep[i]);
  }

  /** Reads selected jets [first, first + count) of the selection, validating each. */
  #read(
    first: number,
    count: number,
  ): { block: JetBlock; keep: Int32Array; rows: ArrayLike<number> } {
    let block: JetBlock, rows: ArrayLike<number>;
    if ("rows" in this.#sel) {
      rows = this.#sel.rows.subarray(first, first + count);
      block = readRows(this.reader, rows);
    } else {
      const start = this.#sel.start + first;
      block = this.reader.read(start, count);
      rows = Int32Array.from({ length: block.n }, (_, i) => start + i);
    }
    const keep: number[] = [];
    for (let j = 0; j < block.n; j++) if (this.#validate(block, j, rows[j])) keep.push(j);
    return { block, keep: Int32Array.from(keep), rows };
  }
}

/** Reads explicit rows (ascending), one read per run of consecutive rows. */
export function readRows(reader: JetFileReader, rows: ArrayLike<number>): JetBlock {
  const parts: JetBlock[] = [];
  for (let i = 0; i < rows.length;) {
    let j = i + 1;
    while (j < rows.length && rows[j] === rows[j - 1] + 1) j++;
    parts.push(reader.read(rows[i], j - i));
    i = j;
  }
  return concatBlocks(parts);
}

/** One block from several of one layout. */
export function concatBlocks(parts: readonly JetBlock[]): JetBlock {
  if (parts.length === 1) return parts[0];
  const p0 = parts[0], n = parts.reduce((s, b) => s + b.n, 0);
  const cat = <T extends Float32Array | Int32Array | Uint8Array>(
    get: (b: JetBlock) => T | undefined,
  ) => {
    const first = get(p0);
    if (!first) return undefined;
    const out = new (first.constructor as new (n: number) => T)(
      parts.reduce((s, b) => s + get(b)!.length, 0),
    );
    let o = 0;
    for (const b of parts) (out.set(get(b)!, o), o += get(b)!.length);
    return out;
  };
  return {
    n,
    nParticles: p0.nParticles,
    features: p0.features,
    csts: cat((b) => b.csts)!,
    valid: cat((b) => b.valid)!,
    ids: cat((b) => b.ids),
    labels: cat((b) => b.labels),
    jets: cat((b) => b.jets),
    vtxId: cat((b) => b.vtxId),
    trackType: cat((b) => b.trackType),
    vtxPos: cat((b) => b.vtxPos),
    nVertices: p0.nVertices,
  };
}
