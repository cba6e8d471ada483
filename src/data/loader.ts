/**
 * A streaming batch loader over one or many jet files, with bounded memory.
 *
 * The files are one concatenated index space. A split (`train`/`val`/`test` fractions, or an
 * explicit range) selects a contiguous part of it; `maxJets` keeps only its first n jets (the
 * data-efficiency studies). Shuffling is two-level and seeded per epoch: the order of windows
 * of `window` jets is permuted, then the jets within each window. Only one window is in memory,
 * and the position (epoch, jets consumed) restores the stream exactly.
 *
 * @module
 */
import { Rng } from "./rng.ts";
import { DataError } from "./errors.ts";
import { JetFileReader } from "./hdf5.ts";
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
  /** Index of the first jet in this run's stream (seeds per-jet masking and noise). */
  streamIndex: number;
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
  /** Named split of the concatenated files by `splitFractions`. Default: everything. */
  split?: "train" | "val" | "test";
  /** Fractions of train/val/test. Default [0.8, 0.1, 0.1]. */
  splitFractions?: readonly [number, number, number];
  /** Keep only the first n jets of the selected range. */
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

function permutation(n: number, r: Rng): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r.u() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
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
  #offsets: number[];
  #start: number;
  #columns: number[];
  #state: LoaderState = { epoch: 0, position: 0, streamIndex: 0 };
  #windowOrder: Int32Array | null = null;
  #windowIndex = -1;
  #windowJets: JetBlock | null = null;
  #windowPerm: Int32Array = new Int32Array(0);
  #windowStarts: Int32Array = new Int32Array(0);

  /** Opens the files and validates their layouts and features. */
  constructor(options: JetLoaderOptions) {
    if (!options.files.length) throw new RangeError("JetLoader: no files given");
    if (!(options.batchSize >= 1)) {
      throw new RangeError(`JetLoader: batch size ${options.batchSize}`);
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
    this.#offsets = [0];
    for (const r of this.#readers) {
      this.#offsets.push(this.#offsets[this.#offsets.length - 1] + r.info.n);
    }
    const total = this.#offsets[this.#offsets.length - 1];
    let [a, b] = [0, total];
    if (options.split) {
      const [ft, fv] = options.splitFractions ?? [0.8, 0.1, 0.1];
      const t = Math.floor(ft * total), v = Math.floor((ft + fv) * total);
      [a, b] = options.split === "train" ? [0, t] : options.split === "val" ? [t, v] : [v, total];
    }
    if (options.maxJets !== undefined) b = Math.min(b, a + options.maxJets);
    this.#start = a;
    this.length = b - a;
    if (this.length <= 0) {
      throw new DataError(
        { file: first.path },
        `the selected range holds no jets (split ${options.split ?? "all"}, ${total} jets in all)`,
        "use more data or another split",
      );
    }
  }

  /** The resumable position. */
  get state(): LoaderState {
    return { ...this.#state };
  }

  /** Restores a position saved from {@linkcode JetLoader.state}. */
  restore(state: LoaderState): void {
    this.#state = { ...state };
    this.#windowOrder = null;
    this.#windowIndex = -1;
    this.#windowJets = null;
  }

  /** Number of full batches per epoch. */
  get batchesPerEpoch(): number {
    return Math.floor(this.length / this.options.batchSize);
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
      this.#windowOrder = null;
      this.#windowIndex = -1;
    }
    const take = Math.min(B, this.length - this.#state.position);
    const N = this.nParticles, F = this.features.length;
    const batch: JetBatch = {
      size: 0,
      nParticles: N,
      features: this.features,
      x: new Float32Array(take * N * F),
      raw: new Float32Array(take * N * F),
      ids: new Int32Array(take * N),
      valid: new Uint32Array(take * N),
      streamIndex: this.#state.streamIndex,
    };
    const info = this.#readers[0].info;
    if (info.hasLabels) batch.labels = new Int32Array(take);
    if (info.hasJets) batch.jets = new Float32Array(take * 5);
    if (info.btag) {
      batch.vtxId = new Int32Array(take * N);
      batch.trackType = new Int32Array(take * N).fill(-1);
    }
    const picked: [JetBlock, number][] = [];
    while (picked.length < take && this.#state.position < this.length) {
      const w = this.#windowAt(this.#state.position);
      this.#ensureWindow(w);
      const inWindow = this.#state.position - this.#windowStarts[w];
      if (inWindow < this.#windowPerm.length) {
        picked.push([this.#windowJets!, this.#windowPerm[inWindow]]);
      }
      this.#state.position++;
    }
    picked.forEach(([blk, j], b) => this.#copyJet(blk, j, batch, b));
    batch.size = picked.length;
    this.#state.streamIndex += batch.size;
    if (this.options.preprocessor && batch.size > 0) {
      const view: JetBlock = {
        n: batch.size,
        nParticles: N,
        features: this.features,
        csts: batch.raw,
        valid: Uint8Array.from(batch.valid),
        ids: info.hasIds ? batch.ids : undefined,
      };
      batch.x = this.options.preprocessor.transform(view, {
        seed: this.options.seed,
        jetIndex: batch.streamIndex,
      });
    } else batch.x = batch.raw.slice();
    return batch;
  }

  /** Closes the files. */
  close(): void {
    for (const r of this.#readers) r.close();
  }

  /** Epoch-order window holding position `pos` (window sizes differ only for the last source window). */
  #windowAt(pos: number): number {
    this.#ensureOrder();
    let w = Math.max(0, this.#windowIndex);
    while (this.#windowStarts[w] > pos) w--;
    while (this.#windowStarts[w + 1] <= pos) w++;
    return w;
  }

  #ensureOrder(): void {
    if (this.#windowOrder) return;
    const W = this.options.window!, nWin = Math.ceil(this.length / W);
    this.#windowOrder = this.options.shuffle
      ? permutation(nWin, new Rng(this.options.seed! ^ 0x77696e64, this.#state.epoch))
      : Int32Array.from({ length: nWin }, (_, i) => i);
    this.#windowStarts = new Int32Array(nWin + 1);
    for (let w = 0; w < nWin; w++) {
      const src = this.#windowOrder[w];
      this.#windowStarts[w + 1] = this.#windowStarts[w] + Math.min(W, this.length - src * W);
    }
  }

  #ensureWindow(w: number): void {
    if (w === this.#windowIndex) return;
    const W = this.options.window!;
    const seed = this.options.seed!, epoch = this.#state.epoch;
    const src = this.#windowOrder![w];
    const block = this.#read(this.#start + src * W, Math.min(W, this.length - src * W));
    this.#windowJets = block;
    this.#windowIndex = w;
    // Slots past the window's usable jets (skipped bad jets) are ignored by next().
    this.#windowPerm = this.options.shuffle
      ? permutation(block.n, new Rng(seed ^ 0x6a657473, epoch * 1_000_003 + src))
      : Int32Array.from({ length: block.n }, (_, i) => i);
  }

  /** Reads global jets [g, g + count) across files, validated (bad jets removed when skipping). */
  #read(g: number, count: number): JetBlock {
    const parts: { block: JetBlock; file: string; first: number }[] = [];
    let pos = g;
    while (pos < g + count) {
      let f = 0;
      while (this.#offsets[f + 1] <= pos) f++;
      const local = pos - this.#offsets[f];
      const n = Math.min(g + count - pos, this.#offsets[f + 1] - pos);
      parts.push({
        block: this.#readers[f].read(local, n),
        file: this.#readers[f].info.path,
        first: local,
      });
      pos += n;
    }
    const keep: [JetBlock, number][] = [];
    for (const p of parts) {
      for (let j = 0; j < p.block.n; j++) {
        const bad = this.#check(p.block, j, p.file, p.first + j);
        if (!bad) keep.push([p.block, j]);
        else if (!this.#skippedRows.has(`${p.file}:${p.first + j}`)) {
          this.#skippedRows.add(`${p.file}:${p.first + j}`);
          this.skipped[bad] = (this.skipped[bad] ?? 0) + 1;
        }
      }
    }
    if (parts.length === 1 && keep.length === parts[0].block.n) return parts[0].block;
    return gatherJets(keep);
  }

  /** Returns a skip reason, throws (onBadJet "error"), or returns null for a good jet. */
  #check(b: JetBlock, j: number, file: string, row: number): string | null {
    const P = b.nParticles, F = b.features.length, ptCol = b.features.indexOf("pt");
    const skip = "or pass --skip-bad-jets to skip and count such jets";
    let n = 0;
    for (let k = 0; k < P; k++) {
      const i = j * P + k;
      let nonzero = false;
      for (let c = 0; c < F; c++) {
        const v = b.csts[i * F + c];
        if (!Number.isFinite(v)) {
          return this.#bad(
            "NaN/Inf feature",
            { file, field: "csts", row },
            `feature "${b.features[c]}" of particle ${k} is ${v}`,
            `clean the file, ${skip}`,
          );
        }
        if (v !== 0) nonzero = true;
      }
      if (!b.valid[i]) continue;
      n++;
      if (!nonzero) {
        return this.#bad(
          "all-zero particle",
          { file, field: "mask", row },
          `particle ${k} is marked real but all its features are 0`,
          `make the mask false on padded slots, ${skip}`,
        );
      }
      if (ptCol >= 0 && !(b.csts[i * F + ptCol] > 0)) {
        return this.#bad(
          "non-positive pT",
          { file, field: "csts", row },
          `particle ${k} has pt ${b.csts[i * F + ptCol]} (real particles have pt > 0)`,
          `fix the file, ${skip}`,
        );
      }
      if (b.ids && !(b.ids[i] >= 0 && b.ids[i] <= 7)) {
        return this.#bad(
          "particle type out of range",
          { file, field: "csts_id", row },
          `particle ${k} has type ${b.ids[i]} (types are 0-7)`,
          `map the types to the 8 JetClass types, ${skip}`,
        );
      }
    }
    if (n === 0) {
      return this.#bad(
        "empty jet",
        { file, field: "mask", row },
        "the jet has no particles",
        `remove empty jets, ${skip}`,
      );
    }
    const C = this.options.classes, y = b.labels?.[j];
    if (y !== undefined && (y < 0 || (C !== undefined && y >= C))) {
      return this.#bad(
        "label out of range",
        { file, field: "labels", row },
        `label ${y} is outside 0..${(C ?? 1) - 1}`,
        `check the labels or --classes, ${skip}`,
      );
    }
    const max = this.options.maxParticles;
    if (max !== undefined && n > max && !this.options.truncate) {
      return this.#bad(
        "too many particles",
        { file, field: "mask", row },
        `the jet has ${n} particles, the model allows ${max}`,
        `raise the model's particle limit, pass --truncate to keep the ${max} hardest, ${skip}`,
      );
    }
    return null;
  }

  #bad(
    reason: string,
    loc: { file: string; field: string; row: number },
    problem: string,
    fix: string,
  ): string {
    if (this.options.onBadJet === "skip") return reason;
    throw new DataError(loc, problem, fix);
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
  }
}

/** Builds one block from selected jets of several blocks (same layout). */
function gatherJets(jets: [JetBlock, number][]): JetBlock {
  const n = jets.length;
  const proto = jets[0]?.[0];
  if (!proto) {
    return {
      n: 0,
      nParticles: 0,
      features: [],
      csts: new Float32Array(0),
      valid: new Uint8Array(0),
    };
  }
  const P = proto.nParticles, F = proto.features.length;
  const out: JetBlock = {
    n,
    nParticles: P,
    features: proto.features,
    csts: new Float32Array(n * P * F),
    valid: new Uint8Array(n * P),
    ids: proto.ids ? new Int32Array(n * P) : undefined,
    labels: proto.labels ? new Int32Array(n) : undefined,
    jets: proto.jets ? new Float32Array(n * 5) : undefined,
    vtxId: proto.vtxId ? new Int32Array(n * P) : undefined,
    trackType: proto.trackType ? new Int32Array(n * P) : undefined,
  };
  jets.forEach(([b, j], i) => {
    out.csts.set(b.csts.subarray(j * P * F, (j + 1) * P * F), i * P * F);
    out.valid.set(b.valid.subarray(j * P, (j + 1) * P), i * P);
    out.ids?.set(b.ids!.subarray(j * P, (j + 1) * P), i * P);
    if (out.labels) out.labels[i] = b.labels![j];
    out.jets?.set(b.jets!.subarray(j * 5, j * 5 + 5), i * 5);
    out.vtxId?.set(b.vtxId!.subarray(j * P, (j + 1) * P), i * P);
    out.trackType?.set(b.trackType!.subarray(j * P, (j + 1) * P), i * P);
  });
  return out;
}
