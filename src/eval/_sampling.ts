/**
 * Seeded resampling shared by the generation metrics (a small generator of its own: `src/eval`
 * sits beside `src/data` in the layers and does not import it).
 *
 * @module
 */

/** A metric's value and its spread over batches. */
export interface MetricValue {
  /** Mean (W1) or intercept (FPD) or median (KPD). */
  value: number;
  /** Standard deviation (W1), fit error (FPD) or half the 16-84 % range (KPD). */
  error: number;
}

/** A uniform [0, 1) generator (mulberry32) for `seed` and `stream`. */
export function seeded(seed: number, stream: number): { u(): number } {
  let a = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(stream | 0, 0x85ebca6b)) >>> 0;
  return {
    u() {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** `k` indices drawn uniformly with replacement from [0, n). */
export function draw(rng: { u(): number }, n: number, k: number): Int32Array {
  const out = new Int32Array(k);
  for (let i = 0; i < k; i++) out[i] = Math.min(n - 1, Math.floor(rng.u() * n));
  return out;
}

/** Mean and (population) standard deviation. */
export function meanStd(v: number[]): MetricValue {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return { value: m, error: Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length) };
}
