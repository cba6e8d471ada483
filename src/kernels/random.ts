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
}

/** Dispatches `entry` over `out` in chunks that fit the binding limit (same stream either way). */
function fill(gpu: Gpu, out: Tensor, entry: string, key: RandomKey, a: number, b: number): void {
  const align = gpu.limits.minStorageBufferOffsetAlignment / 4;
  const chunk = Math.max(align, Math.floor(gpu.maxBindingSize / 4 / align) * align);
  for (let start = 0; start < out.size; start += chunk) {
    const n = Math.min(chunk, out.size - start);
    gpu.dispatch(RANDOM, entry, {
      uniforms: uniforms(n, { ...key, offset: key.offset + start }, a, b),
      bindings: [out.size > chunk ? out.view([n], start) : out],
      workgroups: grid1d(n),
    });
  }
}

function uniforms(n: number, k: RandomKey, a: number, b: number): Uniforms {
  return new Uniforms().u32(n).u32(k.seed % 2 ** 32).u32(Math.floor(k.seed / 2 ** 32))
    .u32(k.stream).u32(k.offset % 2 ** 32).u32(Math.floor(k.offset / 2 ** 32)).f32(a).f32(b);
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
