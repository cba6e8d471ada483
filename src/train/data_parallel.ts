/**
 * Data parallelism over MPI: every rank holds the whole model, starts from rank 0's weights,
 * computes gradients on its own share of the batch, and before each optimiser step the
 * gradients are averaged by one allreduce per parameter group (one readback of the group's flat
 * gradient arena, one upload). The optimiser then takes the same step everywhere, so the ranks
 * stay identical. WebGPU buffers cannot be shared with other processes, so the gradients go
 * through host memory. While the gradients are copied back, the training loops load the next
 * step's batch (`averageGradients(whileWaiting)`), so the host's data work overlaps the device's.
 *
 * With equal shares, the average of the ranks' mean-loss gradients is the gradient of the
 * whole batch's mean loss: 2 ranks x B/2 jets follow 1 rank x B jets up to summation order
 * (tested).
 *
 * @module
 */
import type { ParameterStore } from "../autograd/parameters.ts";
import type { JetBatch } from "../data/loader.ts";
import type { Mpi } from "../io/mpi.ts";

/** What the gradient exchange costs, accumulated over the run. */
export interface ExchangeStats {
  /** Allreduce calls. */
  calls: number;
  /** Bytes sent per rank. */
  bytes: number;
  /** Milliseconds in readback, allreduce and upload (host work overlapped with it excluded). */
  ms: number;
  /** Milliseconds of host work (the next step's batch) done while the readback was in flight. */
  overlappedMs: number;
}

/**
 * The data-parallel view of a parameter store.
 *
 * @example
 * ```ts ignore
 * const mpi = Mpi.init();
 * const dp = new DataParallel(mpi, store);
 * await dp.broadcastParameters();
 * // each step: forward and backward on this rank's jets, then
 * await dp.averageGradients();
 * opt.step();
 * gpu.submit();
 * ```
 */
export class DataParallel {
  /** The MPI process. */
  readonly mpi: Mpi;
  /** The parameters kept in sync. */
  readonly store: ParameterStore;
  /** Exchange costs so far. */
  readonly stats: ExchangeStats = { calls: 0, bytes: 0, ms: 0, overlappedMs: 0 };

  /**
   * Wraps a finalised store.
   *
   * @param mpi the MPI process
   * @param store the model's parameters (finalised)
   * @throws {Error} when the store is not finalised
   */
  constructor(mpi: Mpi, store: ParameterStore) {
    if (!store.finalized) throw new Error("DataParallel: finalize the parameter store first");
    this.mpi = mpi;
    this.store = store;
  }

  /**
   * Checks that `batch` splits evenly over the ranks and puts rank 0's parameter values on
   * every rank (call once, after any checkpoint is loaded and before the first step).
   *
   * @param batch the global batch size
   * @throws {RangeError} when the batch does not split evenly
   */
  async start(batch: number): Promise<void> {
    this.share(batch);
    await this.broadcastParameters();
  }

  /** Rank 0's parameter values on every rank (call once, before the first step). */
  async broadcastParameters(): Promise<void> {
    for (const g of this.store.groups) {
      const arena = g.arena("values");
      const v = await arena.read() as Float32Array;
      this.mpi.broadcast(v, 0);
      this.store.gpu.write(arena, v);
    }
  }

  /**
   * Replaces every trainable group's gradients by their mean over the ranks. Call after the
   * backward pass and before the optimiser step (it submits the work recorded so far to read
   * the gradients; the upload lands before the next submitted commands).
   *
   * @param whileWaiting host work to do while the device finishes the backward pass and copies
   *   the gradients back, e.g. loading the next step's batch (called once, also on one rank)
   */
  async averageGradients(whileWaiting?: () => void): Promise<void> {
    if (this.mpi.size === 1) {
      whileWaiting?.();
      return;
    }
    const t0 = performance.now();
    const arenas = this.store.groups.filter((g) => !g.frozen).map((g) => g.arena("grads"));
    const reads = arenas.map((a) => a.read());
    const h0 = performance.now();
    whileWaiting?.();
    const host = performance.now() - h0;
    for (const [i, arena] of arenas.entries()) {
      const x = await reads[i] as Float32Array;
      this.mpi.allreduceSum(x);
      const s = 1 / this.mpi.size;
      for (let j = 0; j < x.length; j++) x[j] *= s;
      this.store.gpu.write(arena, x);
      this.stats.calls++;
      this.stats.bytes += x.byteLength;
    }
    this.stats.ms += performance.now() - t0 - host;
    this.stats.overlappedMs += host;
  }

  /**
   * The rows of a batch of `total` jets that this rank computes: a contiguous share, equal
   * when `total` divides by the number of ranks.
   *
   * @param total jets in the global batch
   * @returns [start, end) of this rank's share
   * @throws {RangeError} when the batch does not split evenly (the average would weight jets
   *   unequally)
   */
  share(total: number): [number, number] {
    const n = this.mpi.size;
    if (total % n !== 0) {
      throw new RangeError(
        `batch ${total} does not split evenly over ${n} ranks; use a multiple of ${n}`,
      );
    }
    const per = total / n;
    return [this.mpi.rank * per, (this.mpi.rank + 1) * per];
  }
}

/**
 * Rows [start, end) of a batch as a batch of its own (the stream index moves with them, so
 * per-jet seeds stay those of the whole batch).
 *
 * @param b the global batch
 * @param range [start, end) rows, e.g. from {@linkcode DataParallel.share}
 * @returns the rows' batch (copies)
 * @example
 * ```ts ignore
 * const mine = batchRows(loader.next()!, dp.share(batchSize));
 * ```
 */
export function batchRows(b: JetBatch, [s, e]: [number, number]): JetBatch {
  const N = b.nParticles, F = b.features.length, V = b.nVertices ?? 0;
  const rows = <T extends Float32Array | Int32Array | Uint32Array>(a: T | undefined, w: number) =>
    a ? a.slice(s * w, e * w) as T : undefined;
  return {
    ...b,
    size: e - s,
    x: rows(b.x, N * F)!,
    raw: rows(b.raw, N * F)!,
    ids: rows(b.ids, N)!,
    valid: rows(b.valid, N)!,
    labels: rows(b.labels, 1),
    jets: rows(b.jets, 5),
    vtxId: rows(b.vtxId, N),
    trackType: rows(b.trackType, N),
    vtxPos: rows(b.vtxPos, V * 4),
    fileIndex: rows(b.fileIndex, 1),
    fileRow: rows(b.fileRow, 1),
    streamIndex: b.streamIndex + s,
  };
}

/**
 * Data parallelism when more than one rank runs: rank 0's weights on every rank, and a check
 * that `batch` splits evenly. `undefined` without MPI or with one rank.
 *
 * @param mpi the MPI process, if any
 * @param store the model's parameters (finalised)
 * @param batch the global batch size
 * @returns the data-parallel view, or undefined
 * @example
 * ```ts ignore
 * const dp = await startDataParallel(mpi, store, 64);
 * ```
 */
export async function startDataParallel(
  mpi: Mpi | undefined,
  store: ParameterStore,
  batch: number,
): Promise<DataParallel | undefined> {
  if (!mpi || mpi.size === 1) return undefined;
  const dp = new DataParallel(mpi, store);
  await dp.start(batch);
  return dp;
}
