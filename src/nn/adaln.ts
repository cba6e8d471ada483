/**
 * Transformer block with adaptive LayerNorm (adaLN-Zero) conditioning, for set-to-set flow
 * matching: self-attention among the set, cross-attention to a context set, SwiGLU feed-forward,
 * each sub-block as `h + gate * f(modulate(LN(h), scale, shift))` with (shift, scale, gate) per
 * set from `Linear(SiLU(cond))`. The modulation Linear starts at zero, so the block starts as
 * the identity.
 *
 * @module
 */
import * as ops from "../autograd/ops.ts";
import type { Tape } from "../autograd/tape.ts";
import type { Gpu } from "../gpu/gpu.ts";
import type { Tensor } from "../gpu/tensor.ts";
import {
  CrossAttention,
  type LayerContext,
  Linear,
  SelfAttention,
  SwiGLUFeedForward,
} from "./layers.ts";

/**
 * Self-attention, cross-attention and feed-forward sub-blocks conditioned on a per-set vector.
 *
 * @example
 * ```ts ignore
 * const blk = new AdaLNCrossBlock(ctx, "ssfm.blocks.0", 64, 4, { contextDim: 64, condDim: 32 });
 * h = blk.forward(tape, h, valid, context, contextValid, timeEmbedding); // cond (B, 32)
 * ```
 */
export class AdaLNCrossBlock {
  /** Width. */
  readonly dim: number;
  /** Self-attention. */
  readonly attn: SelfAttention;
  /** Cross-attention to the context. */
  readonly cross: CrossAttention;
  /** Feed-forward. */
  readonly ff: SwiGLUFeedForward;
  /** cond -> 9 x dim: (shift, scale, gate) for each of the three sub-blocks; zero-initialised. */
  readonly mod: Linear;
  #norm?: { gpu: Gpu; ones: Tensor; zeros: Tensor };

  /** Registers `<name>.{attn,cross,ff,mod}.*`. */
  constructor(
    ctx: LayerContext,
    name: string,
    dim: number,
    heads: number,
    o: { contextDim: number; condDim: number; ffMult?: number },
  ) {
    this.dim = dim;
    this.attn = new SelfAttention(ctx, `${name}.attn`, dim, heads);
    this.cross = new CrossAttention(ctx, `${name}.cross`, dim, heads, o.contextDim);
    this.ff = new SwiGLUFeedForward(ctx, `${name}.ff`, dim, o.ffMult ?? 2);
    this.mod = new Linear(ctx, `${name}.mod`, o.condDim, 9 * dim, {
      weightInit: new Float32Array(9 * dim * o.condDim),
      biasInit: new Float32Array(9 * dim),
    });
  }

  /**
   * x (B, N, dim) with validity (B, N); context (B, Nc, contextDim) with validity (B, Nc);
   * cond (B, condDim).
   */
  forward(
    tape: Tape,
    x: Tensor,
    valid: Tensor | undefined,
    context: Tensor,
    contextValid: Tensor | undefined,
    cond: Tensor,
  ): Tensor {
    const D = this.dim;
    const m = ops.split(tape, this.mod.forward(tape, ops.silu(tape, cond)), new Array(9).fill(D));
    const n = this.#constants(x.gpu);
    const norm = (h: Tensor) => ops.layerNorm(tape, h, n.ones, n.zeros);
    let h = x;
    h = ops.gatedResidual(
      tape,
      h,
      this.attn.forward(tape, ops.modulate(tape, norm(h), m[1], m[0]), valid),
      m[2],
    );
    h = ops.gatedResidual(
      tape,
      h,
      this.cross.forward(tape, ops.modulate(tape, norm(h), m[4], m[3]), context, contextValid),
      m[5],
    );
    return ops.gatedResidual(
      tape,
      h,
      this.ff.forward(tape, ops.modulate(tape, norm(h), m[7], m[6])),
      m[8],
    );
  }

  /** Non-affine LayerNorm weights (ones, zeros), persistent per device. */
  #constants(gpu: Gpu): { ones: Tensor; zeros: Tensor } {
    if (!this.#norm || this.#norm.gpu !== gpu) {
      this.#norm = {
        gpu,
        ones: gpu.upload(new Float32Array(this.dim).fill(1)),
        zeros: gpu.upload(new Float32Array(this.dim)),
      };
    }
    return this.#norm;
  }
}
