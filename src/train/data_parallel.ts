/**
 * Data parallelism over MPI: every rank holds the whole model, starts from rank 0's weights,
 * computes gradients on its own share of the batch, and before each optimiser step the
 * gradients are averaged by one allreduce per parameter group (one readback of the group's flat
 * gradient arena, one upload). The optimiser then takes the same step everywhere, so the ranks
 * stay identical. WebGPU buffers cannot be shared with other processes, so the gradients go
 * through host memory. While the gradients are copied back, the training loops load the next
 * step's batch (`whileWaiting`), so the host's data work overlaps the device's; while they are
 * summed over the ranks (on a thread of Deno's pool), the loops record the optimiser step and
 * the next step's passes ({@linkcode DataParallel.beginAverage}), so the allreduce overlaps the
 * host's recording.
 *
 * With equal shares, the average of the ranks' mean-loss gradients is the gradient of the
 * whole batch's mean loss: 2 ranks x B/2 jets follow 1 rank x B jets up to summation order
 * (tested). A loss that is a mean over items whose number differs between the shares (dropped
 * particles, tracks, pairs) needs the ranks weighted by their counts
 * ({@linkcode ExchangeWeighting}); the training loops do that.
 *
 * @module
 */
import type { ParameterStore, ParamGroup } from "../autograd/parameters.ts";
import type { JetBatch } from "../data/loader.ts";
import type { Mpi } from "../io/mpi.ts";
import { scale } from "../kernels/elementwise.ts";

/** What the gradient exchange costs, accumulated over the run. */
export interface ExchangeStats {
  /** Allreduce calls. */
  calls: number;
  /** Bytes sent per rank. */
  bytes: number;
  /** Milliseconds waiting for the readback and the allreduce, and uploading (overlapped host work excluded). */
  ms: number;
  /** Milliseconds of host work (the next step's batch) done while the readback was in flight. */
  overlappedMs: number;
  /**
   * Milliseconds of host work (recording the optimiser step and the next step) done while the
   * allreduce was in flight, between {@linkcode DataParallel.beginAverage} and `finish`.
   */
  reduceOverlapMs: number;
  /** Milliseconds the allreduces took on MPI's thread. */
  reduceMs: number;
  /** Milliseconds `finish` waited for the allreduces (the part not hidden behind host work). */
  reduceWaitMs: number;
}

/**
 * A weighted average over the ranks: each rank scaled its loss (so its gradients) by `weight`,
 * e.g. its number of dropped particles when the loss is a mean over them; the exchange divides
 * the ranks' summed gradients by the summed weights, so the result is the gradient of the mean
 * over the whole batch. Groups named in `unweighted` (e.g. a probe whose loss is a mean over
 * jets and was not scaled) get the plain mean over the ranks.
 */
export interface ExchangeWeighting {
  /** This rank's weight (its loss was multiplied by it). */
  weight: number;
  /** Parameter groups whose gradients were not scaled. */
  unweighted?: readonly string[];
}

/** A gradient exchange in flight (from {@linkcode DataParallel.beginAverage}). */
export interface PendingExchange {
  /**
   * Waits for the ranks' sums, turns them into means and writes them into the gradient arenas
   * (they land before the next submitted work); lifts the hold on submits. Idempotent.
   */
  finish(): Promise<void>;
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
  readonly stats: ExchangeStats = {
    calls: 0,
    bytes: 0,
    ms: 0,
    overlappedMs: 0,
    reduceOverlapMs: 0,
    reduceMs: 0,
    reduceWaitMs: 0,
  };

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
   * @param weighting a weighted average instead of the plain mean (see
   *   {@linkcode ExchangeWeighting})
   */
  async averageGradients(whileWaiting?: () => void, weighting?: ExchangeWeighting): Promise<void> {
    await (await this.beginAverage(whileWaiting, weighting)).finish();
  }

  /**
   * Starts replacing every trainable group's gradients by their mean over the ranks: submits the
   * work recorded so far, reads the gradients back (running `whileWaiting` meanwhile), and
   * starts their allreduce on a thread of Deno's pool ({@linkcode Mpi.allreduceSumAsync}). Until
   * {@linkcode PendingExchange.finish} the host may record more work, e.g. the optimiser step
   * and the next step's forward and backward passes, which overlaps the exchange; submitting is
   * refused (`Gpu.holdSubmits`) until `finish` has written the averaged gradients,
   * which land before the recorded work.
   *
   * @param whileWaiting host work to do while the device finishes the backward pass and copies
   *   the gradients back, e.g. loading the next step's batch (called once, also on one rank)
   * @param weighting a weighted average instead of the plain mean (see
   *   {@linkcode ExchangeWeighting})
   * @returns the exchange in flight; call `finish()` before the next submit
   * @example
   * ```ts ignore
   * const pending = await dp.beginAverage(() => (next = loader.next()));
   * opt.step();             // recorded while the ranks exchange
   * await pending.finish(); // averaged gradients uploaded
   * gpu.submit();
   * ```
   */
  async beginAverage(
    whileWaiting?: () => void,
    weighting?: ExchangeWeighting,
  ): Promise<PendingExchange> {
    const t0 = performance.now(), gpu = this.store.gpu;
    const groups = this.store.groups.filter((g) => !g.frozen);
    if (this.mpi.size === 1) {
      // One rank: the weighted mean is its gradients over its weight (recorded now, before
      // the optimiser step).
      const w = weighting?.weight ?? 1;
      if (weighting && w !== 1 && w !== 0) this.#divide(groups, weighting, w);
      whileWaiting?.();
      return { finish: () => Promise.resolve() };
    }
    const arenas = groups.map((g) => g.arena("grads"));
    const reads = arenas.map((a) => a.read());
    const h0 = performance.now();
    whileWaiting?.();
    const host = performance.now() - h0;
    const grads = await Promise.all(reads) as Float32Array[];
    // One allreduce in flight at a time: the groups follow each other on MPI's thread.
    const total = Float64Array.of(weighting?.weight ?? 0);
    const reduced = (async () => {
      const r0 = performance.now();
      if (weighting) await this.mpi.allreduceSumAsync(total);
      for (const x of grads) await this.mpi.allreduceSumAsync(x);
      this.stats.reduceMs += performance.now() - r0;
    })();
    gpu.holdSubmits(
      "the gradient exchange is in flight; call finish() on DataParallel.beginAverage's result first",
    );
    const started = performance.now();
    this.stats.ms += started - t0 - host;
    this.stats.overlappedMs += host;
    let finished = false;
    return {
      finish: async () => {
        if (finished) return;
        finished = true;
        const f0 = performance.now();
        this.stats.reduceOverlapMs += f0 - started;
        try {
          await reduced;
        } finally {
          gpu.holdSubmits(null);
        }
        this.stats.reduceWaitMs += performance.now() - f0;
        for (const [i, arena] of arenas.entries()) {
          const x = grads[i];
          const plain = !weighting || weighting.unweighted?.includes(groups[i].name);
          // A total weight of 0 (nothing to average over anywhere) leaves the zero gradients.
          const s = 1 / (plain ? this.mpi.size : total[0] || 1);
          for (let j = 0; j < x.length; j++) x[j] *= s;
          gpu.write(arena, x);
          this.stats.calls++;
          this.stats.bytes += x.byteLength;
        }
        this.stats.ms += performance.now() - f0;
      },
    };
  }

  /** One rank's weighted mean: its weighted groups' gradients over its own weight. */
  #divide(groups: readonly ParamGroup[], w: ExchangeWeighting, by: number): void {
    const gpu = this.store.gpu;
    for (const g of groups) {
      if (w.unweighted?.includes(g.name)) continue;
      const grads = g.arena("grads");
      const scaled = scale(grads, 1 / by);
      gpu.copy(scaled, grads);
      scaled.dispose();
    }
  }

  /**
   * One line on what the exchange cost so far, per step: bytes sent, the allreduce's time and
   * how much of it the loop waited for, and the host work done while the device finished.
   *
   * @param steps exchanges made (training steps)
   * @returns e.g. `gradient exchange over 2 ranks, per step: 0.6 MiB, allreduce 1.2 ms with
   *   waiting for the slowest rank (the loop waited 0.1 ms; the rest ran while the next step was
   *   recorded), 5.2 ms of loading the next batch while the device finished the step`
   */
  summary(steps: number): string {
    const st = this.stats, n = Math.max(steps, 1), ms = (v: number) => (v / n).toFixed(1);
    return `gradient exchange over ${this.mpi.size} ranks, per step: ${
      (st.bytes / n / 2 ** 20).toFixed(1)
    } MiB, allreduce ${ms(st.reduceMs)} ms with waiting for the slowest rank (the loop waited ${
      ms(st.reduceWaitMs)
    } ms; the rest ran while the next step was recorded), ${
      ms(st.overlappedMs)
    } ms of loading the next batch while the device finished the step`;
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
