/**
 * Seeded parameter initialisation (CPU side, run once when a model is built).
 *
 * @module
 */

/**
 * A small seeded generator (SplitMix32-style) for initial weights; reproducible per seed.
 *
 * @example
 * ```ts
 * import { InitRng } from "@mpm/webgpu/nn";
 * const a = new InitRng(1).uniform(3, 1), b = new InitRng(1).uniform(3, 1);
 * console.assert(a.every((v, i) => v === b[i]));
 * ```
 */
export class InitRng {
  #s: number;

  /** Seeds the generator. */
  constructor(seed: number) {
    this.#s = (seed ^ 0x9e3779b9) >>> 0;
  }

  /** Next value in [0, 1). */
  next(): number {
    let z = (this.#s = (this.#s + 0x9e3779b9) >>> 0);
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  }

  /** `n` values uniform in (-bound, bound). */
  uniform(n: number, bound: number): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = (2 * this.next() - 1) * bound;
    return a;
  }

  /** `n` normal values with the given standard deviation. */
  normal(n: number, std: number): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const u1 = 1 - this.next(), u2 = this.next();
      a[i] = std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
    return a;
  }
}

/**
 * PyTorch's default `nn.Linear` initialisation bound, 1 / sqrt(fan_in) (kaiming_uniform with
 * a = sqrt(5)), used for both weight and bias.
 *
 * @example
 * ```ts
 * import { linearBound } from "@mpm/webgpu/nn";
 * console.assert(linearBound(4) === 0.5);
 * ```
 */
export function linearBound(fanIn: number): number {
  return 1 / Math.sqrt(fanIn);
}

/**
 * Xavier-uniform bound sqrt(6 / (fan_in + fan_out)).
 *
 * @example
 * ```ts
 * import { xavierBound } from "@mpm/webgpu/nn";
 * console.assert(xavierBound(3, 3) === 1);
 * ```
 */
export function xavierBound(fanIn: number, fanOut: number): number {
  return Math.sqrt(6 / (fanIn + fanOut));
}
