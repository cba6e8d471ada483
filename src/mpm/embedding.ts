/**
 * Particle embedding: a linear map of the continuous features plus a particle-type table.
 *
 * @module
 */
import * as ops from "../autograd/ops.ts";
import type { Parameter } from "../autograd/parameters.ts";
import type { Tape } from "../autograd/tape.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { type LayerContext, Linear } from "../nn/layers.ts";

/** Number of particle-type classes. */
const N_TYPES = 8;

/**
 * Embedding of particles: `Linear(F -> dim)(x) + Embedding(8, dim)[type]` (the type term is
 * absent for kinematics-only configs). Parameter names: `embed.linear.*`, `embed.types.weight`.
 *
 * @example
 * ```ts ignore
 * const e = new ParticleEmbedding(ctx, 7, 128, true).forward(tape, x, ids); // (B, N, 128)
 * ```
 */
export class ParticleEmbedding {
  /** Feature projection. */
  readonly linear: Linear;
  /** Type table (8, dim). */
  readonly types?: Parameter;

  /** Registers the parameters. */
  constructor(ctx: LayerContext, features: number, dim: number, useIds: boolean) {
    this.linear = new Linear(ctx, "embed.linear", features, dim);
    if (useIds) {
      this.types = ctx.store.create(
        "embed.types.weight",
        [N_TYPES, dim],
        ctx.rng.normal(N_TYPES * dim, 1),
        ctx.group,
      );
    }
  }

  /** x (B, n, F), ids (B, n) -> (B, n, dim). */
  forward(tape: Tape, x: Tensor, ids: Tensor): Tensor {
    const h = this.linear.forward(tape, x);
    return this.types ? ops.add(tape, h, ops.embedding(tape, tape.param(this.types), ids)) : h;
  }
}
