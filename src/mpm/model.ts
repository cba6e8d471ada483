/**
 * The MPMv2 model: particle embedding, a set-transformer encoder with registers (the backbone),
 * and a decoder that receives the encoder outputs plus one learnable mask token per dropped
 * particle, ordered by the particle's pT rank among the dropped ones.
 *
 * MAE pass (MPMv2): dropped particles are removed before the encoder, which runs on a compact
 * padded set of the kept particles plus registers; its outputs are projected to the decoder
 * width; each dropped slot receives mask token k (its pT rank); the decoder runs over
 * registers + kept + mask tokens; its outputs at the dropped slots feed the task heads.
 * BERT pass (MPMv1-style ablation): mask tokens replace the dropped particles' embeddings inside
 * the encoder input, and a per-particle MLP replaces the decoder.
 *
 * @module
 */
import type { ParameterStore } from "../autograd/parameters.ts";
import * as ops from "../autograd/ops.ts";
import type { Tape } from "../autograd/tape.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { InitRng } from "../nn/init.ts";
import { type LayerContext, Linear, TransformerEncoder } from "../nn/layers.ts";
import type { Parameter } from "../autograd/parameters.ts";
import type { MPMConfig } from "./config.ts";
import type { MPMInputs } from "./prepare.ts";

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

/** Output of an MPM pass: decoder (or BERT head) features at the dropped particles. */
export interface MPMPassOutput {
  /** (M, decoder dim) features at the dropped slots, in (jet, slot) order. */
  dropped: Tensor;
}

/**
 * The MPM encoder-decoder.
 *
 * @example
 * ```ts ignore
 * const model = new MPMModel(store, config);
 * store.finalize();
 * const { dropped } = model.forward(tape, inputs); // then task heads on `dropped`
 * ```
 */
export class MPMModel {
  /** Configuration. */
  readonly config: MPMConfig;
  /** Particle embedding (backbone). */
  readonly embed: ParticleEmbedding;
  /** Encoder with registers (backbone). */
  readonly encoder: TransformerEncoder;
  /** Encoder -> decoder projection (MAE). */
  readonly encToDec?: Linear;
  /** Ordered mask tokens (maxParticles, width). */
  readonly maskTokens: Parameter;
  /** Decoder (MAE). */
  readonly decoder?: TransformerEncoder;
  /** Per-particle MLP head (BERT). */
  readonly bertHead?: [Linear, Linear];

  /** Registers every parameter in `store` (group `backbone` for embedding + encoder). */
  constructor(store: ParameterStore, config: MPMConfig) {
    this.config = config;
    const rng = new InitRng(config.train.seed);
    const backbone: LayerContext = { store, rng, group: "backbone" };
    const rest: LayerContext = { store, rng, group: "default" };
    const De = config.encoder.dim, Dd = config.decoder.dim;
    this.embed = new ParticleEmbedding(backbone, config.features.length, De, config.useIds);
    this.encoder = new TransformerEncoder(backbone, "encoder", config.encoder);
    if (config.objective === "mae") {
      this.encToDec = new Linear(rest, "enc_to_dec", De, Dd);
      this.maskTokens = store.create(
        "mask_tokens",
        [config.maxParticles, Dd],
        rng.normal(config.maxParticles * Dd, 1e-3),
      );
      this.decoder = new TransformerEncoder(rest, "decoder", {
        ...config.decoder,
        registers: 0,
        finalNorm: false,
      });
    } else {
      this.maskTokens = store.create(
        "mask_tokens",
        [config.maxParticles, De],
        rng.normal(config.maxParticles * De, 1e-3),
      );
      this.bertHead = [
        new Linear(rest, "bert_head.lin1", De, De),
        new Linear(rest, "bert_head.lin2", De, Dd),
      ];
    }
  }

  /** Width of the features given to the task heads. */
  get headDim(): number {
    return this.config.decoder.dim;
  }

  /** Backbone on full jets: (B, R + N, encoder dim) and the combined validity. */
  encode(
    tape: Tape,
    x: Tensor,
    ids: Tensor,
    valid: Tensor,
    validHost: Uint32Array,
  ): { out: Tensor; valid: Tensor } {
    return this.encoder.forward(tape, this.embed.forward(tape, x, ids), valid, validHost);
  }

  /** The pre-training pass on a prepared batch. */
  forward(tape: Tape, inp: MPMInputs): MPMPassOutput {
    return this.config.objective === "mae" ? this.#mae(tape, inp) : this.#bert(tape, inp);
  }

  #maskRows(tape: Tape, inp: MPMInputs): Tensor {
    // (M, T) one-hot of each dropped particle's pT rank x (T, D) token table.
    return ops.matmulOp(tape, inp.maskOnehot, tape.param(this.maskTokens));
  }

  #mae(tape: Tape, inp: MPMInputs): MPMPassOutput {
    const { B, N, R, Nk } = inp, Dd = this.config.decoder.dim;
    const enc = this.encoder.forward(
      tape,
      this.embed.forward(tape, inp.xKept, inp.idsKept),
      inp.keptValid,
      inp.keptValidHost,
    );
    const proj = this.encToDec!.forward(tape, enc.out);
    const placed = ops.gatherRows(tape, proj.reshape([B * (R + Nk), Dd]), inp.decIdx, inp.decInv, [
      B,
      R + N,
      Dd,
    ]);
    const tokens = ops.gatherRows(tape, this.#maskRows(tape, inp), inp.maskIdx, inp.maskInv, [
      B,
      R + N,
      Dd,
    ]);
    const decIn = ops.add(tape, placed, tokens);
    const validHost = new Uint32Array(0); // the decoder has no registers: validity is passed as is
    const dec = this.decoder!.forward(tape, decIn, inp.decValid, validHost);
    const dropped = ops.gatherRows(
      tape,
      dec.out.reshape([B * (R + N), Dd]),
      inp.maskInv,
      inp.maskIdx,
      [Math.max(inp.M, 1), Dd],
    );
    return { dropped };
  }

  #bert(tape: Tape, inp: MPMInputs): MPMPassOutput {
    const { B, N, R } = inp, De = this.config.encoder.dim;
    const emb = this.embed.forward(tape, inp.x, inp.ids);
    const kept = ops.gatherRows(tape, emb.reshape([B * N, De]), inp.keepSelf, inp.keepSelf, [
      B,
      N,
      De,
    ]);
    const tokens = ops.gatherRows(tape, this.#maskRows(tape, inp), inp.maskIdxN, inp.maskInvN, [
      B,
      N,
      De,
    ]);
    const enc = this.encoder.forward(tape, ops.add(tape, kept, tokens), inp.valid, inp.validHost);
    const rows = ops.gatherRows(
      tape,
      enc.out.reshape([B * (R + N), De]),
      inp.dropRowsEnc,
      inp.dropRowsEncInv,
      [Math.max(inp.M, 1), De],
    );
    const [l1, l2] = this.bertHead!;
    return { dropped: l2.forward(tape, ops.silu(tape, l1.forward(tape, rows))) };
  }
}
