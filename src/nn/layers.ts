/**
 * Parameter-owning layers: Linear, LayerNorm, multi-head self-attention, SwiGLU feed-forward,
 * and the pre-norm transformer block with LayerScale (MPMv2 / jetssl encoder block).
 * Parameter names follow PyTorch (`<prefix>.weight`, `<prefix>.in_proj.weight`, ...).
 *
 * @module
 */
import type { Parameter, ParameterStore } from "../autograd/parameters.ts";
import * as ops from "../autograd/ops.ts";
import type { Validity } from "./validity.ts";
import type { Tape } from "../autograd/tape.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { type InitRng, linearBound, xavierBound } from "./init.ts";

/** Where a layer registers its parameters. */
export interface LayerContext {
  /** The parameter registry. */
  store: ParameterStore;
  /** Seeded generator for initial values. */
  rng: InitRng;
  /** Parameter group (default `"default"`). */
  group?: string;
}

/**
 * `y = x Wᵀ + b`, W (out, in). Initialised like `torch.nn.Linear` unless `weightInit` is given.
 *
 * @example
 * ```ts ignore
 * const fc = new Linear(ctx, "head", 64, 10);
 * const logits = fc.forward(tape, h);
 * ```
 */
export class Linear {
  /** (out, in) weight. */
  readonly weight: Parameter;
  /** (out) bias, if any. */
  readonly bias?: Parameter;

  /** Registers `<name>.weight` and `<name>.bias`. */
  constructor(
    ctx: LayerContext,
    name: string,
    inFeatures: number,
    outFeatures: number,
    options: { bias?: boolean; weightInit?: Float32Array; biasInit?: Float32Array } = {},
  ) {
    const bound = linearBound(inFeatures);
    this.weight = ctx.store.create(
      `${name}.weight`,
      [outFeatures, inFeatures],
      options.weightInit ?? ctx.rng.uniform(outFeatures * inFeatures, bound),
      ctx.group,
    );
    if (options.bias ?? true) {
      this.bias = ctx.store.create(
        `${name}.bias`,
        [outFeatures],
        options.biasInit ?? ctx.rng.uniform(outFeatures, bound),
        ctx.group,
      );
    }
  }

  /** Applies the layer to the last axis of `x`. */
  forward(tape: Tape, x: Tensor): Tensor {
    return ops.linear(
      tape,
      x,
      tape.param(this.weight),
      this.bias ? tape.param(this.bias) : undefined,
    );
  }
}

/**
 * Affine LayerNorm over the last axis (weight 1, bias 0 at init; eps 1e-5).
 *
 * @example
 * ```ts ignore
 * const norm = new LayerNorm(ctx, "encoder.final_norm", 128);
 * ```
 */
export class LayerNorm {
  /** Scale. */
  readonly weight: Parameter;
  /** Shift. */
  readonly bias: Parameter;

  /** Registers `<name>.weight` and `<name>.bias`. */
  constructor(ctx: LayerContext, name: string, dim: number) {
    this.weight = ctx.store.create(
      `${name}.weight`,
      [dim],
      new Float32Array(dim).fill(1),
      ctx.group,
    );
    this.bias = ctx.store.create(`${name}.bias`, [dim], new Float32Array(dim), ctx.group);
  }

  /** Normalises the last axis. */
  forward(tape: Tape, x: Tensor): Tensor {
    return ops.layerNorm(tape, x, tape.param(this.weight), tape.param(this.bias));
  }
}

/**
 * Multi-head self-attention with a fused input projection (Xavier-uniform over the whole
 * 3d x d matrix, zero bias) and an output projection, masked by key validity.
 *
 * @example
 * ```ts ignore
 * const attn = new SelfAttention(ctx, "encoder.layers.0.attn", 128, 4);
 * const o = attn.forward(tape, x, valid); // x (B, N, 128), valid (B, N) u32
 * ```
 */
export class SelfAttention {
  /** Number of heads. */
  readonly heads: number;
  /** (3d, d) fused q/k/v projection. */
  readonly inProj: Linear;
  /** (d, d) output projection. */
  readonly outProj: Linear;

  /** Registers `<name>.in_proj.*` and `<name>.out_proj.*`. */
  constructor(ctx: LayerContext, name: string, dim: number, heads: number) {
    if (dim % heads !== 0 || (dim / heads) % 4 !== 0) {
      throw new RangeError(
        `attention ${name}: dim ${dim} / heads ${heads} must be a multiple of 4`,
      );
    }
    this.heads = heads;
    this.inProj = new Linear(ctx, `${name}.in_proj`, dim, 3 * dim, {
      weightInit: ctx.rng.uniform(3 * dim * dim, xavierBound(dim, 3 * dim)),
      biasInit: new Float32Array(3 * dim),
    });
    this.outProj = new Linear(ctx, `${name}.out_proj`, dim, dim);
  }

  /** Attends every token of each set to the valid tokens of the same set. */
  forward(tape: Tape, x: Tensor, valid?: Tensor): Tensor {
    const qkv = this.inProj.forward(tape, x);
    return this.outProj.forward(tape, ops.selfAttention(tape, qkv, valid, this.heads));
  }
}

/**
 * SwiGLU feed-forward: `lin2(silu(a) * b)` with `[a | b] = lin1(x)`, hidden = ffMult * dim
 * (`lin1` and the SwiGLU fused into one kernel on the storage matmul path).
 *
 * @example
 * ```ts ignore
 * const ff = new SwiGLUFeedForward(ctx, "encoder.layers.0.ff", 128, 2);
 * ```
 */
export class SwiGLUFeedForward {
  /** dim -> 2 * hidden. */
  readonly lin1: Linear;
  /** hidden -> dim. */
  readonly lin2: Linear;

  /** Registers `<name>.lin1.*` and `<name>.lin2.*`. */
  constructor(ctx: LayerContext, name: string, dim: number, ffMult = 2) {
    const hidden = ffMult * dim;
    this.lin1 = new Linear(ctx, `${name}.lin1`, dim, 2 * hidden);
    this.lin2 = new Linear(ctx, `${name}.lin2`, hidden, dim);
  }

  /** Applies the feed-forward network per token. */
  forward(tape: Tape, x: Tensor): Tensor {
    const b1 = this.lin1.bias ? tape.param(this.lin1.bias) : undefined;
    const h = ops.linearSwiglu(tape, x, tape.param(this.lin1.weight), b1);
    return this.lin2.forward(tape, h);
  }
}

/** Options of {@linkcode TransformerBlock}. */
export interface TransformerBlockOptions {
  /** SwiGLU hidden = ffMult * dim. Default 2. */
  ffMult?: number;
  /** LayerScale initial value; `null` disables LayerScale. Default 1e-3. */
  layerScaleInit?: number | null;
}

/**
 * Pre-norm encoder block: `x += γa ⊙ Attn(LN(x))`, then `x += γf ⊙ SwiGLU(LN(x))`.
 *
 * @example
 * ```ts ignore
 * const block = new TransformerBlock(ctx, "encoder.layers.0", 128, 4);
 * h = block.forward(tape, h, valid);
 * ```
 */
export class TransformerBlock {
  /** Norm before attention. */
  readonly norm1: LayerNorm;
  /** Self-attention. */
  readonly attn: SelfAttention;
  /** Norm before the feed-forward. */
  readonly norm2: LayerNorm;
  /** Feed-forward. */
  readonly ff: SwiGLUFeedForward;
  /** LayerScale of the attention residual (absent when disabled). */
  readonly gammaAttn?: Parameter;
  /** LayerScale of the feed-forward residual. */
  readonly gammaFf?: Parameter;

  /** Registers the block's parameters under `<name>.`. */
  constructor(
    ctx: LayerContext,
    name: string,
    dim: number,
    heads: number,
    options: TransformerBlockOptions = {},
  ) {
    this.norm1 = new LayerNorm(ctx, `${name}.norm1`, dim);
    this.attn = new SelfAttention(ctx, `${name}.attn`, dim, heads);
    this.norm2 = new LayerNorm(ctx, `${name}.norm2`, dim);
    this.ff = new SwiGLUFeedForward(ctx, `${name}.ff`, dim, options.ffMult ?? 2);
    const ls = options.layerScaleInit === undefined ? 1e-3 : options.layerScaleInit;
    if (ls !== null) {
      this.gammaAttn = ctx.store.create(
        `${name}.ls1.gamma`,
        [dim],
        new Float32Array(dim).fill(ls),
        ctx.group,
      );
      this.gammaFf = ctx.store.create(
        `${name}.ls2.gamma`,
        [dim],
        new Float32Array(dim).fill(ls),
        ctx.group,
      );
    }
  }

  /** Runs the block on x (B, N, dim) with key validity (B, N). */
  forward(tape: Tape, x: Tensor, valid?: Tensor): Tensor {
    const a = this.attn.forward(tape, this.norm1.forward(tape, x), valid);
    const h = this.gammaAttn
      ? ops.residualScale(tape, x, a, tape.param(this.gammaAttn))
      : ops.add(tape, x, a);
    const f = this.ff.forward(tape, this.norm2.forward(tape, h));
    return this.gammaFf
      ? ops.residualScale(tape, h, f, tape.param(this.gammaFf))
      : ops.add(tape, h, f);
  }
}

/**
 * Multi-head cross-attention: queries from `x`, keys and values from `context`, masked by the
 * context's validity. Projections: q (d x d), fused kv (2d x d), output (d x d).
 *
 * @example
 * ```ts ignore
 * const ca = new CrossAttention(ctx, "decoder.layers.0.cross", 128, 4);
 * const o = ca.forward(tape, queries, encoded, encodedValid);
 * ```
 */
export class CrossAttention {
  /** Number of heads. */
  readonly heads: number;
  /** Query projection. */
  readonly qProj: Linear;
  /** Fused key/value projection. */
  readonly kvProj: Linear;
  /** Output projection. */
  readonly outProj: Linear;

  /** Registers `<name>.q_proj.*`, `<name>.kv_proj.*`, `<name>.out_proj.*`. */
  constructor(ctx: LayerContext, name: string, dim: number, heads: number, contextDim = dim) {
    if (dim % heads !== 0 || (dim / heads) % 4 !== 0) {
      throw new RangeError(
        `attention ${name}: dim ${dim} / heads ${heads} must be a multiple of 4`,
      );
    }
    this.heads = heads;
    this.qProj = new Linear(ctx, `${name}.q_proj`, dim, dim, {
      weightInit: ctx.rng.uniform(dim * dim, xavierBound(dim, dim)),
      biasInit: new Float32Array(dim),
    });
    this.kvProj = new Linear(ctx, `${name}.kv_proj`, contextDim, 2 * dim, {
      weightInit: ctx.rng.uniform(2 * dim * contextDim, xavierBound(contextDim, 2 * dim)),
      biasInit: new Float32Array(2 * dim),
    });
    this.outProj = new Linear(ctx, `${name}.out_proj`, dim, dim);
  }

  /** x (B, Nq, d) attends to context (B, Nk, contextDim) with validity (B, Nk). */
  forward(tape: Tape, x: Tensor, context: Tensor, contextValid?: Tensor): Tensor {
    const q = this.qProj.forward(tape, x), kv = this.kvProj.forward(tape, context);
    return this.outProj.forward(tape, ops.crossAttention(tape, q, kv, contextValid, this.heads));
  }
}

/**
 * Pre-norm decoder block with LayerScale: self-attention, cross-attention to another set (only
 * the query stream is normalised), feed-forward.
 *
 * @example
 * ```ts ignore
 * const blk = new CrossAttentionBlock(ctx, "decoder.layers.0", 128, 4);
 * h = blk.forward(tape, h, valid, encoded, encodedValid);
 * ```
 */
export class CrossAttentionBlock {
  /** Self-attention sub-block. */
  readonly self: TransformerBlock;
  /** Norm before cross-attention. */
  readonly normCross: LayerNorm;
  /** Cross-attention. */
  readonly cross: CrossAttention;
  /** LayerScale of the cross-attention residual. */
  readonly gammaCross?: Parameter;

  /** Registers parameters under `<name>.`. */
  constructor(
    ctx: LayerContext,
    name: string,
    dim: number,
    heads: number,
    options: TransformerBlockOptions & { contextDim?: number } = {},
  ) {
    this.self = new TransformerBlock(ctx, name, dim, heads, options);
    this.normCross = new LayerNorm(ctx, `${name}.norm_cross`, dim);
    this.cross = new CrossAttention(ctx, `${name}.cross`, dim, heads, options.contextDim ?? dim);
    const ls = options.layerScaleInit === undefined ? 1e-3 : options.layerScaleInit;
    if (ls !== null) {
      this.gammaCross = ctx.store.create(
        `${name}.ls_cross.gamma`,
        [dim],
        new Float32Array(dim).fill(ls),
        ctx.group,
      );
    }
  }

  /** Self-attention over (x, valid), then cross-attention to (context, contextValid), then FF. */
  forward(
    tape: Tape,
    x: Tensor,
    valid: Tensor | undefined,
    context: Tensor,
    contextValid?: Tensor,
  ): Tensor {
    const s = this.self;
    const a = s.attn.forward(tape, s.norm1.forward(tape, x), valid);
    let h = s.gammaAttn
      ? ops.residualScale(tape, x, a, tape.param(s.gammaAttn))
      : ops.add(tape, x, a);
    const c = this.cross.forward(tape, this.normCross.forward(tape, h), context, contextValid);
    h = this.gammaCross
      ? ops.residualScale(tape, h, c, tape.param(this.gammaCross))
      : ops.add(tape, h, c);
    const f = s.ff.forward(tape, s.norm2.forward(tape, h));
    return s.gammaFf ? ops.residualScale(tape, h, f, tape.param(s.gammaFf)) : ops.add(tape, h, f);
  }
}

/** Shape of a {@linkcode TransformerEncoder}. */
export interface EncoderConfig {
  /** Model width. */
  dim: number;
  /** Number of blocks. */
  layers: number;
  /** Attention heads. */
  heads: number;
  /** Learnable tokens prepended to every set (always valid). */
  registers: number;
  /** SwiGLU multiplier. Default 2. */
  ffMult?: number;
  /** Final LayerNorm. Default false. */
  finalNorm?: boolean;
  /** LayerScale init. Default 1e-3. */
  layerScaleInit?: number | null;
}

/**
 * A stack of pre-norm blocks with optional learnable registers (prepended, always valid) and
 * an optional final LayerNorm. No positional encoding: sets are unordered.
 *
 * @example
 * ```ts ignore
 * const enc = new TransformerEncoder(ctx, "encoder", { dim: 128, layers: 4, heads: 4, registers: 8 });
 * const { out, valid } = enc.forward(tape, x, xValid); // out: (B, 8 + N, 128)
 * ```
 */
export class TransformerEncoder {
  /** Configuration. */
  readonly config: EncoderConfig;
  /** Blocks. */
  readonly blocks: TransformerBlock[];
  /** (registers, dim), init N(0, 1) * 1e-3. */
  readonly registers?: Parameter;
  /** Final norm. */
  readonly norm?: LayerNorm;

  /** Registers `<name>.layers.<i>.*`, `<name>.registers`, `<name>.norm.*`. */
  constructor(ctx: LayerContext, name: string, config: EncoderConfig) {
    this.config = config;
    this.blocks = Array.from(
      { length: config.layers },
      (_, i) =>
        new TransformerBlock(ctx, `${name}.layers.${i}`, config.dim, config.heads, {
          ffMult: config.ffMult,
          layerScaleInit: config.layerScaleInit,
        }),
    );
    if (config.registers > 0) {
      this.registers = ctx.store.create(
        `${name}.registers`,
        [config.registers, config.dim],
        ctx.rng.normal(config.registers * config.dim, 1e-3),
        ctx.group,
      );
    }
    if (config.finalNorm) this.norm = new LayerNorm(ctx, `${name}.norm`, config.dim);
  }

  /**
   * Runs the stack on x (B, N, dim) with the sets' validity (B, N). Returns (B, R + N, dim) and
   * the validity with the registers in front.
   */
  forward(tape: Tape, x: Tensor, valid: Validity): { out: Tensor; valid: Validity } {
    const R = this.config.registers;
    let h = x, v = valid;
    if (this.registers) {
      h = ops.prependRows(tape, tape.param(this.registers), x);
      v = valid.withRegisters(tape, R);
    }
    for (const blk of this.blocks) h = blk.forward(tape, h, v.tensor);
    if (this.norm) h = this.norm.forward(tape, h);
    return { out: h, valid: v };
  }
}
