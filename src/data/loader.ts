/**
 * A streaming batch loader over one or many jet files, with bounded memory.
 *
 * Each file is split on its own (`train`/`val`/`test` fractions of every file), so per-process
 * files (JetClass ships one file per class) give every split every class; `maxJets` keeps n jets
 * in proportion to the files' sizes, and within a file in proportion to its classes (a stratified
 * labelled subset for the data-efficiency studies). An epoch interleaves the files in proportion
 * to their sizes ({@linkcode Interleave}): every batch draws from every file. Within a file,
 * shuffling is two-level and seeded per epoch ({@linkcode FileStream}): the order of windows is
 * permuted, then the jets within each window; one window per file is in memory (the `window`
 * budget is shared by the files). The position (epoch, jets consumed) restores the stream
 * exactly. Every jet read is validated ({@linkcode checkJet}).
 *
 * @module
 */
import { DataError } from "./errors.ts";
import { FileStream, type Selection } from "./file_stream.ts";
import { JetFileReader } from "./hdf5.ts";
import { Interleave } from "./interleave.ts";
import { checkJet } from "./jet_checks.ts";
import type { Preprocessor } from "./preprocess.ts";
import type { JetBlock } from "./types.ts";

/** A training batch, ready for upload. Arrays are row-major. */
export interface JetBatch {
  /** Jets in the batch. */
  size: number;
  /** Particle slots per jet. */
  nParticles: number;
  /** Feature names of `x`. */
  features: readonly string[];
  /** (B, N, F) features, preprocessed when the loader has a preprocessor. */
  x: Float32Array;
  /** (B, N, F) raw features (physical units). */
  raw: Float32Array;
  /** (B, N) particle types (zeros when the data has none). */
  ids: Int32Array;
  /** (B, N) 1 = real particle (u32, the GPU mask type). */
  valid: Uint32Array;
  /** (B) labels, when present. */
  labels?: Int32Array;
  /** (B, 5) jet features, when present. */
  jets?: Float32Array;
  /** (B, N) BTag vertex ids. */
  vtxId?: Int32Array;
  /** (B, N) BTag track origins. */
  trackType?: Int32Array;
  /** (B, V, 4) BTag true vertex positions (x, y, z, L3D), V = `nVertices`. */
  vtxPos?: Float32Array;
  /** Vertex slots of `vtxPos`. */
  nVertices?: number;
  /** Index of the first jet in this run's stream (seeds per-jet masking and noise). */
  streamIndex: number;
  /**
   * Jets in the whole batch when this is one process's share of it (the loader's `share`
   * option, data parallelism); absent otherwise.
   */
  fullSize?: number;
  /** (B) index into the loader's `files` of each jet's file (always set by `JetLoader`). */
  fileIndex?: Int32Array;
  /** (B) each jet's row in its file (always set by `JetLoader`). */
  fileRow?: Int32Array;
}

/** Options of {@linkcode JetLoader}. */
export interface JetLoaderOptions {
  /** HDF5 files, concatenated in this order. */
  files: readonly string[];
  /** Jets per batch. */
  batchSize: number;
  /** Seed of the shuffle (and of preprocessing noise). Default 0. */
  seed?: number;
  /** Shuffle (default true). */
  shuffle?: boolean;
  /** Jets per shuffle window (memory bound). Default 8192. */
  window?: number;
  /** Named split of every file by `splitFractions`. Default: everything. */
  split?: "train" | "val" | "test";
  /** Fractions of train/val/test. Default [0.8, 0.1, 0.1]. */
  splitFractions?: readonly [number, number, number];
  /**
   * Keep n jets of the selected range, shared by the files in proportion to their sizes and, in a
   * file with labels, by its classes in proportion (the first jets of each class).
   */
  maxJets?: number;
  /** Required features, in the order the model wants them (a subset of the file's). */
  features?: readonly string[];
  /** The model's particle limit: longer jets are an error, or truncated with `truncate`. */
  maxParticles?: number;
  /** Drop the softest particles of jets longer than `maxParticles`. */
  truncate?: boolean;
  /**
   * Bad jets (NaN/Inf features, no particles, non-positive pT or an all-zero real particle, a
   * particle type outside 0-7, a label outside `classes`, more particles than `maxParticles`
   * without `truncate`): throw (default) or skip and count (`--skip-bad-jets`).
   */
  onBadJet?: "error" | "skip";
  /** Labels must lie in [0, classes). */
  classes?: number;
  /** Normalises features. */
  preprocessor?: Preprocessor;
  /** Start a new epoch at the end (default true); otherwise `next()` returns null. */
  loop?: boolean;
  /** Drop a final incomplete batch (default: true when looping). */
  dropLast?: boolean;
  /**
   * Build only this process's share of each batch (data parallelism): every process walks the
   * same stream (same order, same loader state, same per-jet seeds), but of a batch of n jets
   * it copies and preprocesses only rows [⌊rank·n/ranks⌋, ⌊(rank+1)·n/ranks⌋) (see
   * {@linkcode batchShare}), so the host's per-jet work is divided over the ranks. The files'
   * windows are still read whole by every process.
   */
  share?: { rank: number; ranks: number };
}

/**
 * The rows [start, end) of a batch of `n` jets that process `rank` of `ranks` keeps: contiguous
 * shares that differ by at most one jet, equal when `n` divides by `ranks`.
 *
 * @param n jets in the whole batch
 * @param rank this process (0-based)
 * @param ranks number of processes
 * @returns [start, end)
 * @example
 * ```ts
 * import { batchShare } from "@mpm/webgpu/data";
 * console.assert(batchShare(64, 1, 2).join() === "32,64");
 * console.assert(batchShare(5, 1, 2).join() === "2,5");
 * ```
 */
export function batchShare(n: number, rank: number, ranks: number): [number, number] {
  return [Math.floor(rank * n / ranks), Math.floor((rank + 1) * n / ranks)];
}

/** Resumable position of a loader. */
export interface LoaderState {
  /** Completed epochs. */
  epoch: number;
  /** Jets consumed in the current epoch. */
  position: number;
  /** Jets delivered since the run started. */
  streamIndex: number;
}

/**
 * Streams batches of jets from HDF5 files.
 *
 * @example
 * ```ts ignore
 * const loader = new JetLoader({ files: ["train.h5"], batchSize: 256, split: "train", preprocessor });
 * const batch = loader.next()!;  // JetBatch
 * const state = loader.state;    // save with the checkpoint; restore with loader.restore(state)
 * ```
 */
export class JetLoader {
  /** Resolved options. */
  readonly options: Readonly<JetLoaderOptions>;
  /** Jets in the selected range (after the cap). */
  readonly length: number;
  /** Particle slots per jet in batches. */
  readonly nParticles: number;
  /** Feature names of batches. */
  readonly features: readonly string[];
  /** Bad jets skipped so far (each jet counted once, however often it is read), by reason. */
  readonly skipped: Record<string, number> = {};
  #skippedRows = new Set<string>();
  #readers: JetFileReader[];
  #columns: number[];
  #streams: FileStream[];
  #state: LoaderState = { epoch: 0, position: 0, streamIndex: 0 };
  #schedule: Interleave | null = null;

  /** Opens the files and validates their layouts and features. */
  constructor(options: JetLoaderOptions) {
    if (!options.files.length) throw new RangeError("JetLoader: no files given");
    if (!(options.batchSize >= 1)) {
      throw new RangeError(`JetLoader: batch size ${options.batchSize}`);
    }
    const sh = options.share;
    if (
      sh && !(Number.isInteger(sh.ranks) && sh.ranks >= 1 && Number.isInteger(sh.rank) &&
        sh.rank >= 0 && sh.rank < sh.ranks)
    ) {
      throw new RangeError(`JetLoader: share rank ${sh.rank} of ${sh.ranks} ranks`);
    }
    this.options = {
      shuffle: true,
      window: 8192,
      loop: true,
      onBadJet: "error",
      seed: 0,
      ...options,
    };
    this.#readers = options.files.map((f) => JetFileReader.open(f));
    const first = this.#readers[0].info;
    for (const r of this.#readers) {
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
    const want = options.features ?? first.features;
    this.#columns = want.map((f) => {
      const c = first.features.indexOf(f);
      if (c < 0) {
        throw new DataError(
          { file: first.path, field: "csts" },
          `the model needs feature "${f}" but the file has only [${first.features}]`,
          `use a config for these features (e.g. a kinematics-only model for [pt,deta,dphi]) or data that has "${f}"`,
        );
      }
      return c;
    });
    this.features = want;
    this.nParticles = Math.min(first.nParticles, options.maxParticles ?? Infinity);
    const selections = this.#selections();
    this.length = selections.reduce((s, x) => s + ("rows" in x ? x.rows.length : x.count), 0);
    if (this.length <= 0) {
      throw new DataError(
        { file: options.files.join(", ") },
        `the selected range holds no jets (split ${options.split ?? "all"}, ${
          this.#readers.reduce((s, r) => s + r.info.n, 0)
        } jets in all)`,
        "use more data or another split",
      );
    }
    const window = Math.max(256, Math.floor(this.options.window! / this.#readers.length));
    this.#streams = this.#readers.map((r, f) =>
      new FileStream(r, selections[f], {
        window: this.#readers.length === 1 ? this.options.window! : window,
        shuffle: !!this.options.shuffle,
        seed: this.options.seed!,
        file: f,
        validate: (b, j, row) => this.#keep(b, j, r.info.path, row),
      })
    );
  }

  /** Each file's selected jets: its split, then its share of `maxJets` (stratified by class). */
  #selections(): Selection[] {
    const o = this.options;
    const ranges = this.#readers.map((r) => {
      const n = r.info.n;
      if (!o.split) return { start: 0, count: n };
      const [ft, fv] = o.splitFractions ?? [0.8, 0.1, 0.1];
      const t = Math.floor(ft * n), v = Math.floor((ft + fv) * n);
      const [a, b] = o.split === "train" ? [0, t] : o.split === "val" ? [t, v] : [v, n];
      return { start: a, count: b - a };
    });
    if (o.maxJets === undefined) return ranges;
    const quotas = largestRemainder(ranges.map((r) => r.count), o.maxJets);
    return ranges.map((r, f): Selection => {
      const q = quotas[f];
      const labels = this.#readers[f].readLabels();
      if (!labels || q >= r.count) return { start: r.start, count: Math.min(q, r.count) };
      return { rows: stratifiedRows(labels, r.start, r.count, q) };
    });
  }

  /** The resumable position. */
  get state(): LoaderState {
    return { ...this.#state };
  }

  /** Restores a position saved from {@linkcode JetLoader.state}. */
  restore(state: LoaderState): void {
    this.#state = { ...state };
    this.#schedule = null;
  }

  /** Number of full batches per epoch. */
  get batchesPerEpoch(): number {
    return Math.floor(this.length / this.options.batchSize);
  }

  /** The epoch's schedule, positioned at the current state. */
  #scheduleNow(): Interleave {
    if (!this.#schedule) {
      const e = this.#state.epoch;
      this.#schedule = new Interleave(this.#streams.map((s) => s.length), this.options.seed!, e);
      this.#schedule.seek(this.#state.position);
      for (const s of this.#streams) s.setEpoch(e);
    }
    return this.#schedule;
  }

  /** The next batch, or null at the end of a non-looping pass. */
  next(): JetBatch | null {
    const B = this.options.batchSize;
    const dropLast = this.options.dropLast ?? this.options.loop;
    if (
      this.#state.position >= this.length || (dropLast && this.#state.position + B > this.length)
    ) {
      if (!this.options.loop) return null;
      this.#state.epoch++;
      this.#state.position = 0;
      this.#schedule = null;
    }
    const take = Math.min(B, this.length - this.#state.position);
    const schedule = this.#scheduleNow();
    const picked: [JetBlock, number, number, number][] = [];
    while (picked.length < take && this.#state.position < this.length) {
      const [f, k] = schedule.next()!;
      const jet = this.#streams[f].at(k);
      if (jet) picked.push([...jet, f]);
      this.#state.position++;
    }
    const sh = this.options.share;
    const [s, e] = sh ? batchShare(picked.length, sh.rank, sh.ranks) : [0, picked.length];
    const batch = this.#emptyBatch(e - s);
    batch.streamIndex += s;
    if (sh) batch.fullSize = picked.length;
    picked.slice(s, e).forEach(([blk, j, row, f], b) => {
      this.#copyJet(blk, j, batch, b);
      batch.fileIndex![b] = f;
      batch.fileRow![b] = row;
    });
    batch.size = e - s;
    this.#state.streamIndex += picked.length;
    this.#preprocess(batch);
    return batch;
  }

  #emptyBatch(take: number): JetBatch {
    const N = this.nParticles, F = this.features.length, info = this.#readers[0].info;
    const batch: JetBatch = {
      size: 0,
      nParticles: N,
      features: this.features,
      x: new Float32Array(take * N * F),
      raw: new Float32Array(take * N * F),
      ids: new Int32Array(take * N),
      valid: new Uint32Array(take * N),
      streamIndex: this.#state.streamIndex,
      fileIndex: new Int32Array(take),
      fileRow: new Int32Array(take),
    };
    if (info.hasLabels) batch.labels = new Int32Array(take);
    if (info.hasJets) batch.jets = new Float32Array(take * 5);
    if (info.btag) {
      batch.vtxId = new Int32Array(take * N);
      batch.trackType = new Int32Array(take * N).fill(-1);
    }
    if (info.nVertices) {
      batch.nVertices = info.nVertices;
      batch.vtxPos = new Float32Array(take * info.nVertices * 4);
    }
    return batch;
  }

  #preprocess(batch: JetBatch): void {
    const N = this.nParticles, info = this.#readers[0].info;
    if (this.options.preprocessor && batch.size > 0) {
      const view: JetBlock = {
        n: batch.size,
        nParticles: N,
        features: this.features,
        csts: batch.raw.subarray(0, batch.size * N * this.features.length),
        valid: Uint8Array.from(batch.valid.subarray(0, batch.size * N)),
        ids: info.hasIds ? batch.ids : undefined,
      };
      batch.x = this.options.preprocessor.transform(view, {
        seed: this.options.seed,
        jetIndex: batch.streamIndex,
      });
    } else batch.x = batch.raw.slice();
  }

  /** Closes the files. */
  close(): void {
    for (const r of this.#readers) r.close();
  }

  /** Validates a jet as it is read; counts a skipped one once, however often it is read. */
  #keep(b: JetBlock, j: number, file: string, row: number): boolean {
    const reason = checkJet(b, j, file, row, this.options);
    if (!reason) return true;
    const key = `${file}:${row}`;
    if (!this.#skippedRows.has(key)) {
      this.#skippedRows.add(key);
      this.skipped[reason] = (this.skipped[reason] ?? 0) + 1;
    }
    return false;
  }

  #copyJet(src: JetBlock, j: number, dst: JetBatch, b: number): void {
    const P = src.nParticles,
      F0 = src.features.length,
      N = dst.nParticles,
      F = this.#columns.length;
    for (let k = 0; k < N; k++) {
      const si = j * P + k, di = b * N + k;
      if (!src.valid[si]) continue;
      dst.valid[di] = 1;
      for (let c = 0; c < F; c++) dst.raw[di * F + c] = src.csts[si * F0 + this.#columns[c]];
      if (src.ids) dst.ids[di] = src.ids[si];
      if (src.vtxId) dst.vtxId![di] = src.vtxId[si];
      if (src.trackType) dst.trackType![di] = src.trackType[si];
    }
    if (src.labels) dst.labels![b] = src.labels[j];
    if (src.jets) dst.jets!.set(src.jets.subarray(j * 5, j * 5 + 5), b * 5);
    if (src.vtxPos && dst.vtxPos) {
      const V = dst.nVertices! * 4;
      dst.vtxPos.set(src.vtxPos.subarray(j * V, (j + 1) * V), b * V);
    }
  }
}

/** Integer shares of `total` in proportion to `sizes` (largest remainder; each at most its size). */
export function largestRemainder(sizes: readonly number[], total: number): number[] {
  const sum = sizes.reduce((a, b) => a + b, 0);
  if (total >= sum) return [...sizes];
  const exact = sizes.map((n) => (n * total) / sum);
  const out = exact.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i]).sort((a, b) =>
    b[0] - a[0] || a[1] - b[1]
  );
  for (const [, i] of order) {
    if (left <= 0) break;
    if (out[i] < sizes[i]) (out[i]++, left--);
  }
  return out;
}

/**
 * `q` rows of [start, start + count) keeping the class proportions of that range: the first rows
 * of each class, in file order.
 */
export function stratifiedRows(
  labels: Int32Array,
  start: number,
  count: number,
  q: number,
): Int32Array {
  const byClass = new Map<number, number[]>();
  for (let i = start; i < start + count; i++) {
    const y = labels[i];
    let list = byClass.get(y);
    if (!list) byClass.set(y, list = []);
    list.push(i);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  const quotas = largestRemainder(classes.map((c) => byClass.get(c)!.length), q);
  const rows = classes.flatMap((c, k) => byClass.get(c)!.slice(0, quotas[k]));
  return Int32Array.from(rows.sort((a, b) => a - b));
}
