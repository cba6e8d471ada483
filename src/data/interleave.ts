/**
 * Proportional interleaving of several streams: the order in which an epoch draws from files of
 * sizes n_0, n_1, ... so that every stretch of the epoch holds each file in proportion to its
 * size (a batch of 64 from ten one-class files holds several classes, never one). File f's k-th
 * jet sits at key (k + φ_f) / n_f, with a seeded phase φ_f per epoch; the epoch visits keys in
 * increasing order (ties by file). The schedule is deterministic and can be restored at any
 * position without replaying it.
 *
 * @module
 */
import { Rng } from "./rng.ts";

/**
 * The interleaving of `sizes.length` streams over one epoch.
 *
 * @example
 * ```ts
 * import { Interleave } from "@mpm/webgpu/data";
 * const s = new Interleave([2, 6], 1, 0);
 * const order = Array.from({ length: 8 }, () => s.next()[0]);
 * console.assert(order.filter((f) => f === 0).length === 2);
 * console.assert(order.slice(0, 4).includes(0) && order.slice(4).includes(0)); // spread out
 * ```
 */
export class Interleave {
  /** Items per stream. */
  readonly sizes: readonly number[];
  /** Items in all streams. */
  readonly total: number;
  /** Items of each stream consumed so far (the next item's index in that stream). */
  readonly counts: number[];
  #phase: number[];

  /**
   * A schedule over streams of the given sizes.
   *
   * @param sizes items per stream
   * @param seed run seed
   * @param epoch epoch (the phases change every epoch)
   */
  constructor(sizes: readonly number[], seed: number, epoch: number) {
    this.sizes = sizes;
    this.total = sizes.reduce((a, b) => a + b, 0);
    this.counts = sizes.map(() => 0);
    const r = new Rng(seed ^ 0x696c7676, epoch);
    this.#phase = sizes.map(() => r.u());
  }

  /** Consumed so far. */
  get position(): number {
    return this.counts.reduce((a, b) => a + b, 0);
  }

  #key(f: number, k: number): number {
    return (k + this.#phase[f]) / this.sizes[f];
  }

  /** The next item: [stream, index in that stream], or null at the end of the epoch. */
  next(): [number, number] | null {
    let best = -1, bestKey = Infinity;
    for (let f = 0; f < this.sizes.length; f++) {
      if (this.counts[f] >= this.sizes[f]) continue;
      const key = this.#key(f, this.counts[f]);
      if (key < bestKey) {
        best = f;
        bestKey = key;
      }
    }
    if (best < 0) return null;
    return [best, this.counts[best]++];
  }

  /** Moves to `position` (items consumed since the epoch started) without replaying. */
  seek(position: number): void {
    if (!(position >= 0 && position <= this.total)) {
      throw new RangeError(`Interleave: position ${position} outside 0..${this.total}`);
    }
    // Largest t with (keys < t) <= position, by bisection; then step forward over the ties.
    const below = (t: number) =>
      this.sizes.map((n, f) => Math.min(n, Math.max(0, Math.ceil(t * n - this.#phase[f]))));
    let lo = 0, hi = 2;
    for (let i = 0; i < 80; i++) {
      const mid = (lo + hi) / 2;
      if (below(mid).reduce((a, b) => a + b, 0) <= position) lo = mid;
      else hi = mid;
    }
    const c = below(lo);
    for (let f = 0; f < c.length; f++) this.counts[f] = c[f];
    while (this.position < position) this.next();
  }
}
