/**
 * CPU-side preparation of an MPM step: which particles the encoder sees (compacted), where each
 * encoder output and each ordered mask token goes in the decoder input, and the targets of the
 * dropped particles. Index maps are computed on the host; each is uploaded the first time the
 * pass reads it, so a step uploads only what its objective uses (an MAE step never uploads the
 * BERT maps, an SSFM step no decoder maps).
 *
 * @module
 */
import type { Gpu } from "../gpu/gpu.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { Masking } from "../data/masking.ts";
import type { JetBatch } from "../data/loader.ts";
import { Validity } from "../nn/validity.ts";

/** A row gather and its inverse (for the backward scatter), as `ops.gatherRows` takes them. */
export interface RowMap {
  /** (rows out) source row of each output row, -1 for none. */
  idx: Tensor;
  /** (rows in) output row of each source row, -1 for none. */
  inv: Tensor;
}

/** The host arrays an {@linkcode StepInputs} is built from (see its getters). */
interface StepHost {
  xKept: Float32Array;
  idsKept: Int32Array;
  decIdx: Int32Array;
  decInv: Int32Array;
  maskOnehot: Float32Array;
  maskIdx: Int32Array;
  maskInv: Int32Array;
  xDrop: Float32Array;
  idsDrop: Int32Array;
  keepSelf: Int32Array;
  maskIdxN: Int32Array;
  maskInvN: Int32Array;
  dropRowsEnc: Int32Array;
  dropRowsEncInv: Int32Array;
}

/**
 * The inputs of one MPM step (a batch trimmed to its longest jet, and its masking): sizes, the
 * validity of each set the pass attends over, and lazily uploaded tensors. Dispose it after the
 * step has been recorded.
 */
export class StepInputs {
  /** Jets. */
  readonly B: number;
  /** Particle slots (the batch's longest jet). */
  readonly N: number;
  /** Encoder registers. */
  readonly R: number;
  /** Compacted kept slots per jet (the largest kept count, at least 1). */
  readonly Nk: number;
  /** Dropped particles in the batch (they are jet-major: jet 0's first, in pT order). */
  readonly M: number;
  /** Features. */
  readonly F: number;
  /** Mask-token table size (the model's particle limit). */
  readonly T: number;
  /** Stream index of the batch's first jet (seeds per-step noise). */
  readonly streamIndex: number;
  /** The (trimmed) batch. */
  readonly batch: JetBatch;
  /** (B, N) full jets. */
  readonly valid: Validity;
  /** (B, Nk) compacted kept particles (the MAE and SSFM encoder input). */
  readonly keptValid: Validity;
  /** (B, R + N) decoder input: registers + real particles (MAE). */
  readonly decValid: Validity;
  /** (B) dropped particles per jet. */
  readonly dropCount: Int32Array;
  /** (M) slot b * N + n of dropped particle m. */
  readonly dropSlots: Int32Array;
  /** Host copy of `xDrop` (the targets of generative heads). */
  readonly xDropHost: Float32Array;
  /** Host copy of `idsDrop`. */
  readonly idsDropHost: Int32Array;
  #gpu: Gpu;
  #host: StepHost;
  #uploads = new Map<string, Tensor>();

  /** Use {@linkcode prepareInputs}. */
  constructor(
    gpu: Gpu,
    sizes: { B: number; N: number; R: number; Nk: number; M: number; F: number; T: number },
    batch: JetBatch,
    host: StepHost & { keptValid: Uint32Array; decValid: Uint32Array; dropCount: Int32Array },
  ) {
    this.#gpu = gpu;
    ({ B: this.B, N: this.N, R: this.R, Nk: this.Nk, M: this.M, F: this.F, T: this.T } = sizes);
    this.batch = batch;
    this.streamIndex = batch.streamIndex;
    this.#host = host;
    this.valid = new Validity(gpu, batch.valid, this.B, this.N);
    this.keptValid = new Validity(gpu, host.keptValid, this.B, this.Nk);
    this.decValid = new Validity(gpu, host.decValid, this.B, this.R + this.N);
    this.dropCount = host.dropCount;
    this.dropSlots = host.maskInvN.subarray(0, this.M);
    this.xDropHost = host.xDrop;
    this.idsDropHost = host.idsDrop;
  }

  #up<T extends Float32Array | Int32Array | Uint32Array>(
    name: string,
    data: () => T,
    shape: number[],
  ): Tensor {
    let t = this.#uploads.get(name);
    if (!t) this.#uploads.set(name, t = this.#gpu.upload(data(), shape));
    return t;
  }

  /** (B, N, F) all features (BERT pass, probe). */
  get x(): Tensor {
    return this.#up("x", () => this.batch.x, [this.B, this.N, this.F]);
  }
  /** (B, N) all types. */
  get ids(): Tensor {
    return this.#up("ids", () => this.batch.ids, [this.B, this.N]);
  }
  /** (B) labels (zeros when the data has none). */
  get labels(): Tensor {
    return this.#up("labels", () => this.batch.labels ?? new Int32Array(this.B), [this.B]);
  }
  /** (B, Nk, F) kept particles' features. */
  get xKept(): Tensor {
    return this.#up("xKept", () => this.#host.xKept, [this.B, this.Nk, this.F]);
  }
  /** (B, Nk) kept particles' types. */
  get idsKept(): Tensor {
    return this.#up("idsKept", () => this.#host.idsKept, [this.B, this.Nk]);
  }
  /** MAE: encoder-output row (B * (R + Nk)) feeding each decoder row (B * (R + N)). */
  get placeKept(): RowMap {
    const { B, R, N, Nk } = this;
    return {
      idx: this.#up("decIdx", () => this.#host.decIdx, [B * (R + N)]),
      inv: this.#up("decInv", () => this.#host.decInv, [B * (R + Nk)]),
    };
  }
  /** MAE: mask-token row m feeding each decoder row (dropped slots). */
  get placeTokens(): RowMap {
    const { B, R, N } = this, Mx = Math.max(this.M, 1);
    return {
      idx: this.#up("maskIdx", () => this.#host.maskIdx, [B * (R + N)]),
      inv: this.#up("maskInv", () => this.#host.maskInv, [Mx]),
    };
  }
  /** (max(M, 1), T) one-hot of each dropped particle's pT rank (its mask token). */
  get maskOnehot(): Tensor {
    return this.#up("maskOnehot", () => this.#host.maskOnehot, [Math.max(this.M, 1), this.T]);
  }
  /** BERT: the kept slots of the embedded input (identity at kept slots, -1 elsewhere). */
  get bertKept(): RowMap {
    const t = this.#up("keepSelf", () => this.#host.keepSelf, [this.B * this.N]);
    return { idx: t, inv: t };
  }
  /** BERT: mask-token row m feeding each dropped slot of the encoder input. */
  get bertTokens(): RowMap {
    return {
      idx: this.#up("maskIdxN", () => this.#host.maskIdxN, [this.B * this.N]),
      inv: this.#up("maskInvN", () => this.#host.maskInvN, [Math.max(this.M, 1)]),
    };
  }
  /** BERT: encoder-output row (with registers) of each dropped particle m. */
  get bertDropRows(): RowMap {
    return {
      idx: this.#up("dropRowsEnc", () => this.#host.dropRowsEnc, [Math.max(this.M, 1)]),
      inv: this.#up("dropRowsEncInv", () => this.#host.dropRowsEncInv, [
        this.B * (this.R + this.N),
      ]),
    };
  }
  /** (max(M, 1), F) targets: features of the dropped particles. */
  get xDrop(): Tensor {
    return this.#up("xDrop", () => this.#host.xDrop, [Math.max(this.M, 1), this.F]);
  }
  /** (max(M, 1)) targets: types of the dropped particles. */
  get idsDrop(): Tensor {
    return this.#up("idsDrop", () => this.#host.idsDrop, [Math.max(this.M, 1)]);
  }

  /** Names of the tensors uploaded so far (what the pass used). */
  get uploaded(): string[] {
    return [...this.#uploads.keys()];
  }

  /** Releases every upload. */
  dispose(): void {
    for (const t of this.#uploads.values()) t.dispose();
    this.#uploads.clear();
    for (const v of [this.valid, this.keptValid, this.decValid]) v.dispose();
  }
}

/**
 * The batch with its particle axis cut to the longest jet (padded slots cost attention time,
 * ∝ N², and change nothing: they are masked).
 *
 * @example
 * ```ts ignore
 * const b = trimBatch(loader.next()!); // b.nParticles <= 128
 * ```
 */
export function trimBatch(batch: JetBatch): JetBatch {
  const N0 = batch.nParticles;
  let n = 1;
  for (let b = 0; b < batch.size; b++) {
    for (let k = N0 - 1; k >= n; k--) if (batch.valid[b * N0 + k]) n = k + 1;
  }
  return trim(batch, n);
}

/** The first `n` particle slots of every jet of a batch. */
function trim(batch: JetBatch, n: number): JetBatch {
  const N0 = batch.nParticles, F = batch.features.length, B = batch.size;
  if (n === N0) return batch;
  const rows = <T extends Float32Array | Int32Array | Uint32Array>(a: T, w: number): T => {
    const out = new (a.constructor as new (n: number) => T)(B * n * w);
    for (let b = 0; b < B; b++) out.set(a.subarray(b * N0 * w, (b * N0 + n) * w), b * n * w);
    return out;
  };
  return {
    ...batch,
    nParticles: n,
    x: rows(batch.x, F),
    raw: rows(batch.raw, F),
    ids: rows(batch.ids, 1),
    valid: rows(batch.valid, 1),
    vtxId: batch.vtxId ? rows(batch.vtxId, 1) : undefined,
    trackType: batch.trackType ? rows(batch.trackType, 1) : undefined,
  };
}

function trimMasking(m: Masking, B: number, N0: number, n: number): Masking {
  if (n === N0) return m;
  const dropped = new Uint8Array(B * n), rank = new Int32Array(B * n);
  for (let b = 0; b < B; b++) {
    dropped.set(m.dropped.subarray(b * N0, b * N0 + n), b * n);
    rank.set(m.rank.subarray(b * N0, b * N0 + n), b * n);
  }
  return { dropped, rank, count: m.count };
}

/**
 * Builds the step inputs from a batch and its masking (the particle axis is trimmed to the
 * batch's longest jet).
 *
 * @example
 * ```ts ignore
 * const m = randomMasking(batch.valid, batch.size, N, { seed, jetIndex: batch.streamIndex, pt: batch.raw, ptStride: F });
 * const inputs = prepareInputs(gpu, batch, m, { registers: 8, maxParticles: 128 });
 * // ... record the step ...
 * inputs.dispose();
 * ```
 */
export function prepareInputs(
  gpu: Gpu,
  batch: JetBatch,
  masking: Masking,
  o: { registers: number; maxParticles: number },
): StepInputs {
  const B = batch.size, N0 = batch.nParticles, F = batch.features.length, R = o.registers;
  batch = trimBatch(batch);
  const N = batch.nParticles, T = o.maxParticles;
  let Nk = 1, M = 0;
  for (let b = 0; b < B; b++) {
    let k = 0;
    for (let n = 0; n < N; n++) if (batch.valid[b * N + n] && !masking.dropped[b * N0 + n]) k++;
    Nk = Math.max(Nk, k);
    M += masking.count[b];
  }
  masking = trimMasking(masking, B, N0, N);
  const Mx = Math.max(M, 1);
  const h = {
    xKept: new Float32Array(B * Nk * F),
    idsKept: new Int32Array(B * Nk),
    keptValid: new Uint32Array(B * Nk),
    decIdx: new Int32Array(B * (R + N)).fill(-1),
    decInv: new Int32Array(B * (R + Nk)).fill(-1),
    maskOnehot: new Float32Array(Mx * T),
    maskIdx: new Int32Array(B * (R + N)).fill(-1),
    maskInv: new Int32Array(Mx),
    decValid: new Uint32Array(B * (R + N)),
    xDrop: new Float32Array(Mx * F),
    idsDrop: new Int32Array(Mx),
    keepSelf: new Int32Array(B * N).fill(-1),
    maskIdxN: new Int32Array(B * N).fill(-1),
    maskInvN: new Int32Array(Mx),
    dropRowsEnc: new Int32Array(Mx),
    dropRowsEncInv: new Int32Array(B * (R + N)).fill(-1),
    dropCount: Int32Array.from(masking.count),
  };
  let m = 0;
  for (let b = 0; b < B; b++) {
    for (let r = 0; r < R; r++) {
      h.decIdx[b * (R + N) + r] = b * (R + Nk) + r;
      h.decInv[b * (R + Nk) + r] = b * (R + N) + r;
      h.decValid[b * (R + N) + r] = 1;
    }
    let k = 0;
    for (let n = 0; n < N; n++) {
      const i = b * N + n, row = b * (R + N) + R + n;
      if (!batch.valid[i]) continue;
      h.decValid[row] = 1;
      if (masking.dropped[i]) {
        const rank = masking.rank[i];
        if (rank >= T) throw new RangeError(`mask rank ${rank} exceeds the token table (${T})`);
        h.maskOnehot[m * T + rank] = 1;
        h.maskIdx[row] = m;
        h.maskInv[m] = row;
        h.xDrop.set(batch.x.subarray(i * F, (i + 1) * F), m * F);
        h.idsDrop[m] = batch.ids[i];
        h.maskIdxN[i] = m;
        h.maskInvN[m] = i;
        h.dropRowsEnc[m] = row;
        h.dropRowsEncInv[row] = m;
        m++;
      } else {
        h.xKept.set(batch.x.subarray(i * F, (i + 1) * F), (b * Nk + k) * F);
        h.idsKept[b * Nk + k] = batch.ids[i];
        h.keptValid[b * Nk + k] = 1;
        h.decIdx[row] = b * (R + Nk) + R + k;
        h.decInv[b * (R + Nk) + R + k] = row;
        h.keepSelf[i] = i;
        k++;
      }
    }
  }
  return new StepInputs(gpu, { B, N, R, Nk, M, F, T }, batch, h);
}

/**
 * The dropped particles of a batch as their own padded sets: jet b's dropped particles fill rows
 * b * Nd + j, j < count[b], in the (jet-major) order m of {@linkcode StepInputs}.
 */
export interface DroppedSets {
  /** Jets. */
  B: number;
  /** Rows per jet: the largest dropped count in the batch (at least 1). */
  Nd: number;
  /** (B * Nd) dropped index m at each row, -1 at padding rows. */
  mOfRow: Int32Array;
  /** (M) row of dropped particle m. */
  rowOfM: Int32Array;
  /** (B * Nd) 1 at real rows. */
  valid: Uint32Array;
}

/**
 * Lays the dropped particles out as padded per-jet sets (for heads that see the dropped
 * particles as a set: set-to-set flow matching, the VQ-VAE tokenizer).
 *
 * @example
 * ```ts
 * import { droppedSets } from "@mpm/webgpu/mpm";
 * const s = droppedSets(new Int32Array([2, 0, 1]));
 * console.assert(s.Nd === 2 && s.rowOfM.join() === "0,1,4" && s.mOfRow.join() === "0,1,-1,-1,2,-1");
 * ```
 */
export function droppedSets(count: ArrayLike<number>): DroppedSets {
  const B = count.length;
  let Nd = 1, M = 0;
  for (let b = 0; b < B; b++) {
    Nd = Math.max(Nd, count[b]);
    M += count[b];
  }
  const mOfRow = new Int32Array(B * Nd).fill(-1), rowOfM = new Int32Array(M);
  const valid = new Uint32Array(B * Nd);
  let m = 0;
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < count[b]; j++, m++) {
      mOfRow[b * Nd + j] = m;
      rowOfM[m] = b * Nd + j;
      valid[b * Nd + j] = 1;
    }
  }
  return { B, Nd, mOfRow, rowOfM, valid };
}
