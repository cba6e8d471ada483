/**
 * A small, fast, seeded random generator for CPU-side work (synthesis, masking, shuffling, noise
 * drawn on the host). Each (seed, index) pair is its own stream, so a result never depends on how
 * work is split into blocks or batches: jet `i` of a run with seed `s` always uses `new Rng(s, i)`.
 *
 * @module
 */
import { normalQuantile } from "./calibration.ts";

/** Standard-normal quantiles at (k + 0.5) / 65536: a normal variate is one table lookup. */
const NORMAL_TABLE = Float64Array.from(
  { length: 65536 },
  (_, k) => normalQuantile((k + 0.5) / 65536),
);

/**
 * sfc32 seeded from (seed, index) through a SplitMix-style mixer.
 *
 * @example
 * ```ts
 * import { Rng } from "@mpm/webgpu/data";
 * const a = new Rng(42, 7), b = new Rng(42, 7);
 * console.assert(a.u() === b.u() && a.n() === b.n());
 * ```
 */
export class Rng {
  /** State word a. */
  a: number;
  /** State word b. */
  b: number;
  /** State word c. */
  c: number;
  /** State word d (the counter). */
  d: number;

  /** The stream `index` of run `seed` (both any non-negative integers below 2^53). */
  constructor(seed: number, index: number) {
    const mix = (x: number) => {
      x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
      x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
      return (x ^ (x >>> 16)) >>> 0;
    };
    const s = mix((seed >>> 0) ^ 0x9e3779b9) ^ mix(Math.floor(seed / 2 ** 32) + 0x632be5ab);
    const lo = index >>> 0, hi = Math.floor(index / 2 ** 32);
    this.a = mix(s ^ lo);
    this.b = mix(this.a ^ hi ^ 0x7f4a7c15);
    this.c = mix(this.b ^ 0x94d049bb);
    this.d = mix(this.c ^ lo ^ 0x5bd1e995);
    for (let i = 0; i < 8; i++) this.u();
  }

  /** Next 32-bit output. */
  next(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  u(): number {
    return this.next() / 4294967296;
  }

  /** Standard normal, by inverse-CDF table lookup (65536 levels, |z| < 4.3). */
  n(): number {
    return NORMAL_TABLE[this.next() >>> 16];
  }

  /** Exponential with mean 1. */
  e(): number {
    return -Math.log(1 - this.u());
  }

  /** Poisson with the given mean (normal approximation above 30). */
  poisson(mean: number): number {
    if (mean > 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * this.n()));
    const l = Math.exp(-mean);
    let k = 0, p = this.u();
    while (p > l) {
      k++;
      p *= this.u();
    }
    return k;
  }
}
