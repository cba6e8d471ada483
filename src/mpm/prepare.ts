/**
 * CPU-side preparation of an MPM step: which particles the encoder sees (compacted), where each
 * encoder output and each ordered mask token goes in the decoder input, and the targets of the
 * dropped particles. All index maps are small integer arrays uploaded once per step.
 *
 * @module
 */
import type { Gpu } from "../gpu/gpu.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { Masking } from "../data/masking.ts";
import type { JetBatch } from "../data/loader.ts";

/** GPU inputs of one MPM step, plus the host-side sizes. */
export interface MPMInputs {
  /** Jets. */
  B: number;
  /** Particle slots. */
  N: number;
  /** Encoder registers. */
  R: number;
  /** Compacted kept slots per jet (max kept count in the batch, at least 1). */
  Nk: number;
  /** Total dropped particles in the batch. */
  M: number;
  /** Features. */
  F: number;
  /** (B, Nk, F) kept particles' features. */
  xKept: Tensor;
  /** (B, Nk) kept particles' types. */
  idsKept: Tensor;
  /** (B, Nk) u32 validity of the compacted slots. */
  keptValid: Tensor;
  /** Host copy of `keptValid`. */
  keptValidHost: Uint32Array;
  /** (B * (R + N)) i32: encoder-output row feeding each decoder row, -1 for mask/padding. */
  decIdx: Tensor;
  /** (B * (R + Nk)) i32: inverse of `decIdx`. */
  decInv: Tensor;
  /** (M, maxParticles) f32 one-hot of each dropped particle's pT rank (its mask token). */
  maskOnehot: Tensor;
  /** (B * (R + N)) i32: dropped-particle index m at dropped slots, -1 elsewhere. */
  maskIdx: Tensor;
  /** (M) i32: decoder row of dropped particle m. */
  maskInv: Tensor;
  /** (B, R + N) u32 decoder validity (registers + real particles). */
  decValid: Tensor;
  /** (M, F) targets: features of the dropped particles. */
  xDrop: Tensor;
  /** (M) i32 targets: types of the dropped particles. */
  idsDrop: Tensor;
  /** (B, N, F) all features (probe, backbone). */
  x: Tensor;
  /** (B, N) all types. */
  ids: Tensor;
  /** (B, N) u32 validity. */
  valid: Tensor;
  /** Host copy of `valid`. */
  validHost: Uint32Array;
  /** (B) labels (zeros when absent). */
  labels: Tensor;
  /** BERT: (B * N) i32 row of each slot in the embedded input if kept, -1 if dropped or padding. */
  keepSelf: Tensor;
  /** BERT: (B * N) i32 dropped index at dropped slots, -1 elsewhere. */
  maskIdxN: Tensor;
  /** BERT: (M) i32 slot (b * N + n) of dropped particle m. */
  maskInvN: Tensor;
  /** BERT: (M) i32 encoder-output row (with registers) of dropped particle m. */
  dropRowsEnc: Tensor;
  /** BERT: (B * (R + N)) i32 inverse of `dropRowsEnc`. */
  dropRowsEncInv: Tensor;
  /** Host copy of `xDrop` (the data x0 of flow matching). */
  xDropHost: Float32Array;
  /** Host copy of `idsDrop`. */
  idsDropHost: Int32Array;
  /** (B) dropped particles per jet (the dropped particles m are jet-major). */
  dropCount: Int32Array;
  /** Stream index of the batch's first jet (seeds per-step noise). */
  streamIndex: number;
  /** Every tensor above, for disposal. */
  all: Tensor[];
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
 * ```
 */
export function prepareInputs(
  gpu: Gpu,
  batch: JetBatch,
  masking: Masking,
  o: { registers: number; maxParticles: number },
): MPMInputs {
  const B = batch.size, N0 = batch.nParticles, F = batch.features.length, R = o.registers;
  batch = trimBatch(batch);
  const N = batch.nParticles;
  let Nk = 1, M = 0;
  for (let b = 0; b < B; b++) {
    let k = 0;
    for (let n = 0; n < N; n++) if (batch.valid[b * N + n] && !masking.dropped[b * N0 + n]) k++;
    Nk = Math.max(Nk, k);
    M += masking.count[b];
  }
  masking = trimMasking(masking, B, N0, N);
  const xKept = new Float32Array(B * Nk * F),
    idsKept = new Int32Array(B * Nk),
    keptValid = new Uint32Array(B * Nk);
  const decIdx = new Int32Array(B * (R + N)).fill(-1),
    decInv = new Int32Array(B * (R + Nk)).fill(-1);
  const T = o.maxParticles;
  const maskOnehot = new Float32Array(Math.max(M, 1) * T);
  const maskIdx = new Int32Array(B * (R + N)).fill(-1), maskInv = new Int32Array(Math.max(M, 1));
  const decValid = new Uint32Array(B * (R + N));
  const xDrop = new Float32Array(Math.max(M, 1) * F), idsDrop = new Int32Array(Math.max(M, 1));
  const keepSelf = new Int32Array(B * N).fill(-1), maskIdxN = new Int32Array(B * N).fill(-1);
  const maskInvN = new Int32Array(Math.max(M, 1)), dropRowsEnc = new Int32Array(Math.max(M, 1));
  const dropRowsEncInv = new Int32Array(B * (R + N)).fill(-1);
  let m = 0;
  for (let b = 0; b < B; b++) {
    for (let r = 0; r < R; r++) {
      decIdx[b * (R + N) + r] = b * (R + Nk) + r;
      decInv[b * (R + Nk) + r] = b * (R + N) + r;
      decValid[b * (R + N) + r] = 1;
    }
    let k = 0;
    for (let n = 0; n < N; n++) {
      const i = b * N + n, row = b * (R + N) + R + n;
      if (!batch.valid[i]) continue;
      decValid[row] = 1;
      if (masking.dropped[i]) {
        const rank = masking.rank[i];
        if (rank >= T) throw new RangeError(`mask rank ${rank} exceeds the token table (${T})`);
        maskOnehot[m * T + rank] = 1;
        maskIdx[row] = m;
        maskInv[m] = row;
        xDrop.set(batch.x.subarray(i * F, (i + 1) * F), m * F);
        idsDrop[m] = batch.ids[i];
        maskIdxN[i] = m;
        maskInvN[m] = i;
        dropRowsEnc[m] = row;
        dropRowsEncInv[row] = m;
        m++;
      } else {
        xKept.set(batch.x.subarray(i * F, (i + 1) * F), (b * Nk + k) * F);
        idsKept[b * Nk + k] = batch.ids[i];
        keptValid[b * Nk + k] = 1;
        decIdx[row] = b * (R + Nk) + R + k;
        decInv[b * (R + Nk) + R + k] = row;
        keepSelf[i] = i;
        k++;
      }
    }
  }
  const all: Tensor[] = [];
  const up = <T extends Float32Array | Int32Array | Uint32Array>(a: T, shape: number[]) => {
    const t = gpu.upload(a, shape);
    all.push(t);
    return t;
  };
  const Mx = Math.max(M, 1);
  return {
    B,
    N,
    R,
    Nk,
    M,
    F,
    xKept: up(xKept, [B, Nk, F]),
    idsKept: up(idsKept, [B, Nk]),
    keptValid: up(keptValid, [B, Nk]),
    keptValidHost: keptValid,
    decIdx: up(decIdx, [B * (R + N)]),
    decInv: up(decInv, [B * (R + Nk)]),
    maskOnehot: up(maskOnehot, [Mx, T]),
    maskIdx: up(maskIdx, [B * (R + N)]),
    maskInv: up(maskInv, [Mx]),
    decValid: up(decValid, [B, R + N]),
    xDrop: up(xDrop, [Mx, F]),
    idsDrop: up(idsDrop, [Mx]),
    x: up(batch.x, [B, N, F]),
    ids: up(batch.ids, [B, N]),
    valid: up(batch.valid, [B, N]),
    validHost: batch.valid,
    labels: up(batch.labels ?? new Int32Array(B), [B]),
    keepSelf: up(keepSelf, [B * N]),
    maskIdxN: up(maskIdxN, [B * N]),
    maskInvN: up(maskInvN, [Mx]),
    dropRowsEnc: up(dropRowsEnc, [Mx]),
    dropRowsEncInv: up(dropRowsEncInv, [B * (R + N)]),
    xDropHost: xDrop,
    idsDropHost: idsDrop,
    dropCount: Int32Array.from(masking.count),
    streamIndex: batch.streamIndex,
    all,
  };
}

/**
 * The dropped particles of a batch as their own padded sets: jet b's dropped particles fill rows
 * b * Nd + j, j < count[b], in the (jet-major) order m of {@linkcode MPMInputs}.
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
