/**
 * Counter-based random numbers on the GPU (Philox4x32-10): reproducible for a given
 * (seed, stream, offset), independent of dispatch shape and device.
 *
 * @module
 */
import type { Gpu } from "../gpu/gpu.ts";
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { grid1d } from "./_util.ts";
import { RANDOM } from "./specs.ts";

/** Where in the random sequence a draw starts. */
export interface RandomKey {
  /** Run seed (up to 2^53). */
  seed: number;
  /** Stream id: one per consumer (masking, noise, init, dropout...). */
  stream: number;
  /** Counter offset: advance by the number of values drawn (up to 2^53). */
  offset: number;
  /**
   * Row layout: element i draws counter `offset + ⌊i / length⌋ · stride + i mod length` instead
   * of `offset + i`, so each row of `length` elements has its own range of `stride` counters
   * (e.g. one per jet, whatever the batch it sits in). `length` at most `stride`, both below
   * 2^32. Default: contiguous counters.
   */
  rows?: { length: number; stride: number };
}

/** Dispatches `entry` over `out` in chunks that fit the binding limit (same stream either way). */
function fill(gpu: Gpu, out: Tensor, entry: string, key: RandomKey, a: number, b: number): void {
  const align = gpu.limits.minStorageBufferOffsetAlignment / 4, rows = key.rows;
  if (
    rows && !(Number.isInteger(rows.length) && rows.length >= 1 && Number.isInteger(rows.stride) &&
      rows.stride >= rows.length && rows.stride < 2 ** 32)
  ) {
    throw new RangeError(
      `random: row layout of ${rows.length} elements in ${rows.stride} counters`,
    );
  }
  let chunk = Math.max(align, Math.floor(gpu.maxBindingSize / 4 / align) * align);
  // A chunk of whole rows (and a multiple of the alignment), so each chunk starts a row.
  if (rows && out.size > chunk) {
    const unit = rows.length * align / gcd(rows.length, align);
    if (unit > chunk) throw new RangeError(`random: rows of ${rows.length} exceed a binding`);
    chunk = Math.floor(chunk / unit) * unit;
  }
  for (let start = 0; start < out.size; start += chunk) {
    const n = Math.min(chunk, out.size - start);
    const offset = key.offset + (rows ? (start / rows.length) * rows.stride : start);
    gpu.dispatch(RANDOM, entry, {
      uniforms: uniforms(n, { ...key, offset }, a, b),
      bindings: [out.size > chunk ? out.view([n], start) : out],
      workgroups: grid1d(n),
    });
  }
}

function uniforms(n: number, k: RandomKey, a: number, b: number): Uniforms {
  return new Uniforms().u32(n).u32(k.seed % 2 ** 32).u32(Math.floor(k.seed / 2 ** 32))
    .u32(k.stream).u32(k.offset % 2 ** 32).u32(Math.floor(k.offset / 2 ** 32)).f32(a).f32(b)
    .u32(k.rows?.length ?? 0).u32(k.rows?.stride ?? 0).u32(0).u32(0);
}

function gcd(a: number, b: number): number {
  return b ? gcd(b, a % b) : a;
}

/**
 * Fills a new tensor with uniform values in (lo, hi).
 *
 * @example
 * ```ts ignore
 * const u = randomUniform(gpu, [1024], { seed: 42, stream: 1, offset: 0 });
 * ```
 */
export function randomUniform(
  gpu: Gpu,
  shape: readonly number[],
  key: RandomKey,
  range: { lo?: number; hi?: number } = {},
): Tensor {
  const out = gpu.empty(shape);
  fill(gpu, out, "rand_uniform", key, range.lo ?? 0, range.hi ?? 1);
  return out;
}

/**
 * Fills a new tensor with normal values (Box-Muller).
 *
 * @example
 * ```ts ignore
 * const eps = randomNormal(gpu, [B, N, 7], { seed: 42, stream: 2, offset: step * B * N * 7 });
 * ```
 */
export function randomNormal(
  gpu: Gpu,
  shape: readonly number[],
  key: RandomKey,
  params: { mean?: number; std?: number } = {},
): Tensor {
  const out = gpu.empty(shape);
  fill(gpu, out, "rand_normal", key, params.mean ?? 0, params.std ?? 1);
  return out;
}
