/**
 * Masking ("dropping") for pre-training, as the reference does it, seeded per jet: jet `i` of
 * a run with seed `s` always drops the same particles, so a resumed run continues exactly.
 *
 * Each function returns the `dropped` mask (a subset of `valid`) and, for every dropped
 * particle, its rank by decreasing pT among the dropped particles of its jet (the index of the
 * ordered mask token it receives).
 *
 * @module
 */
import { Rng } from "./rng.ts";

/** Result of a masking function; arrays are (B, N) row-major. */
export interface Masking {
  /** 1 where the particle is dropped (always a real particle). */
  dropped: Uint8Array;
  /** Rank by decreasing pT among the dropped particles of the jet; -1 where not dropped. */
  rank: Int32Array;
  /** (B) number dropped per jet. */
  count: Int32Array;
}

/** Common options. */
export interface MaskingOptions {
  /** Run seed. */
  seed: number;
  /** Global index of the first jet of the batch (the per-jet stream). */
  jetIndex?: number;
  /** (B, N) particle pT, used to rank dropped particles; default: slot order (pT-sorted data). */
  pt?: ArrayLike<number>;
  /** Feature stride of `pt` when it points into a (B, N, F) array. Default 1. */
  ptStride?: number;
}

const STREAM = 0x6d61736b; // "mask"

function choose(
  valid: ArrayLike<number>,
  b: number,
  n: number,
  k: number,
  r: Rng,
  out: Masking,
  o: MaskingOptions,
): void {
  // Uniform scores on real particles, padded slots last; the k lowest are dropped.
  const idx: number[] = [], score: number[] = [];
  for (let i = 0; i < n; i++) {
    if (valid[b * n + i]) {
      idx.push(i);
      score.push(r.u());
    }
  }
  const order = idx.map((_, j) => j).sort((x, y) => score[x] - score[y]).slice(0, k).map((j) =>
    idx[j]
  );
  // Rank by decreasing pT among the dropped (ties: slot order).
  const pt = o.pt, st = o.ptStride ?? 1;
  order.sort((x, y) => (pt ? pt[(b * n + y) * st] - pt[(b * n + x) * st] : 0) || x - y);
  order.forEach((i, rank) => {
    out.dropped[b * n + i] = 1;
    out.rank[b * n + i] = rank;
  });
  out.count[b] = k;
}

function empty(batch: number, n: number): Masking {
  return {
    dropped: new Uint8Array(batch * n),
    rank: new Int32Array(batch * n).fill(-1),
    count: new Int32Array(batch),
  };
}

function realCount(valid: ArrayLike<number>, b: number, n: number): number {
  let c = 0;
  for (let i = 0; i < n; i++) c += valid[b * n + i] ? 1 : 0;
  return c;
}

/**
 * Drops `floor(fraction * n_real)` real particles of each jet uniformly at random (the MPMv2
 * default, fraction 0.4). A one-particle jet drops nothing.
 *
 * @example
 * ```ts
 * import { randomMasking } from "@mpm/webgpu/data";
 * const m = randomMasking(new Uint8Array([1, 1, 1, 1, 1, 0]), 1, 6, { seed: 1, fraction: 0.4 });
 * console.assert(m.count[0] === 2);
 * ```
 */
export function randomMasking(
  valid: ArrayLike<number>,
  batch: number,
  n: number,
  options: MaskingOptions & { fraction?: number },
): Masking {
  const f = options.fraction ?? 0.4;
  if (!(f >= 0 && f <= 1)) throw new RangeError(`mask fraction ${f} not in [0, 1]`);
  const out = empty(batch, n);
  for (let b = 0; b < batch; b++) {
    const r = new Rng(options.seed ^ STREAM, (options.jetIndex ?? 0) + b);
    choose(valid, b, n, Math.floor(f * realCount(valid, b, n)), r, out, options);
  }
  return out;
}

/**
 * Drops a number of real particles drawn uniformly from the integers
 * [ceil(min * n_real), floor(max * n_real)] (the reference's uniform masking; its defaults are
 * 0.05 and 1.0, the paper's SSFM uses 0-0.8).
 *
 * @example
 * ```ts
 * import { uniformMasking } from "@mpm/webgpu/data";
 * const m = uniformMasking(new Uint8Array(10).fill(1), 1, 10, { seed: 2, min: 0, max: 0.8 });
 * console.assert(m.count[0] >= 0 && m.count[0] <= 8);
 * ```
 */
export function uniformMasking(
  valid: ArrayLike<number>,
  batch: number,
  n: number,
  options: MaskingOptions & { min?: number; max?: number },
): Masking {
  const lo = options.min ?? 0.05, hi = options.max ?? 1;
  if (!(lo >= 0 && hi <= 1 && lo <= hi)) throw new RangeError(`mask range [${lo}, ${hi}] invalid`);
  const out = empty(batch, n);
  for (let b = 0; b < batch; b++) {
    const r = new Rng(options.seed ^ STREAM ^ 0x1f, (options.jetIndex ?? 0) + b);
    const real = realCount(valid, b, n);
    const kmin = Math.ceil(lo * real), kmax = Math.max(kmin, Math.floor(hi * real));
    choose(valid, b, n, kmin + Math.floor(r.u() * (kmax - kmin + 1)), r, out, options);
  }
  return out;
}
