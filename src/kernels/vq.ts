/**
 * Vector-quantiser codebook kernels: the EMA update of a cosine-similarity codebook with
 * dead-code replacement. (The nearest code of a vector under cosine similarity is the nearest
 * unit code in Euclidean distance: {@linkcode kmeansAssign} finds it.)
 *
 * @module
 */
import { ShapeError } from "../gpu/errors.ts";
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { expectSize, lastDim } from "./_util.ts";
import { VQ_EMA } from "./specs.ts";

/** Options of {@linkcode vqEmaUpdate}. */
export interface VqEmaOptions {
  /** EMA decay (the reference: 0.8). */
  decay: number;
  /** EMA cluster size under which a code is replaced by a batch vector (the reference: 2). */
  threshold: number;
  /** Seed of the replacement choice (change it every step). */
  seed: number;
}

/**
 * Updates the EMA state in place and writes the unit codebook: z (n, dim) projected vectors,
 * assign (n) i32 codes, size (k), avg (k, dim), codebook (k, dim); dim at most 64.
 *
 * @example
 * ```ts ignore
 * const { assign } = kmeansAssign(z, codebook);
 * vqEmaUpdate(z, assign, size, avg, codebook, { decay: 0.8, threshold: 2, seed: step });
 * ```
 */
export function vqEmaUpdate(
  z: Tensor,
  assign: Tensor,
  size: Tensor,
  avg: Tensor,
  codebook: Tensor,
  o: VqEmaOptions,
): void {
  const dim = lastDim(z), n = z.size / dim, k = size.size;
  if (dim > 64) throw new ShapeError(`vqEmaUpdate: dim ${dim} > 64`);
  expectSize("vqEmaUpdate", "assign", assign, n);
  expectSize("vqEmaUpdate", "avg", avg, k * dim);
  expectSize("vqEmaUpdate", "codebook", codebook, k * dim);
  z.gpu.dispatch(VQ_EMA, "vq_ema", {
    uniforms: new Uniforms().u32(n).u32(k).u32(dim).u32(o.seed >>> 0).f32(o.decay).f32(
      o.threshold,
    ),
    bindings: [z, assign, size, avg, codebook],
    workgroups: [Math.ceil(k / 64), 1],
  });
}
