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
import { Backbone } from "./backbone.ts";
import type { MPMConfig } from "./config.ts";
import type { StepInputs } from "./prepare.ts";
import type { Validity } from "../nn/validity.ts";

/**
 * Output of an MPM pass: for `mae` and `bert`, the decoder (or BERT encoder) features at the
 * dropped particles; for `ssfm`, the encoder outputs on the kept particles, which condition the
 * generative decoder (the task owns it).
 */
export type MPMPassOutput =
  | {
    objective: "mae" | "bert";
    /** (max(M, 1), `headDim`) features at the dropped slots, in (jet, slot) order. */
    dropped: Tensor;
  }
  | {
    objective: "ssfm";
    /** The encoder outputs on the kept particles (B, R + Nk, D) and their validity. */
    encoder: { out: Tensor; valid: Validity };
  };

/**
 * The decoder features at the dropped particles of a pass (what most task heads read).
 *
 * @throws {Error} for an `ssfm` pass, which has no mask-token decoder
 */
export function droppedFeatures(pass: MPMPassOutput, task: string): Tensor {
  if (pass.objective === "ssfm") {
    throw new Error(
      `task ${task} reads decoder features at the dropped particles; the 'ssfm' objective has none`,
    );
  }
  return pass.dropped;
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
  /** The backbone: particle embedding + encoder with registers (what downstream tasks reuse). */
  readonly backbone: Backbone;
  /** Encoder -> decoder projection (MAE). */
  readonly encToDec?: Linear;
  /** Ordered mask tokens (maxParticles, width); none for `ssfm`. */
  readonly maskTokens?: Parameter;
  /** Decoder (MAE). */
  readonly decoder?: TransformerEncoder;
  /** Per-particle MLP head (BERT with `bertHead`; the reference has none). */
  readonly bertHead?: [Linear, Linear];

  /** Registers every parameter in `store` (group `backbone` for embedding + encoder). */
  constructor(store: ParameterStore, config: MPMConfig) {
    this.config = config;
    const rng = new InitRng(config.train.seed);
    const rest: LayerContext = { store, rng, group: "default" };
    const De = config.encoder.dim, Dd = config.decoder.dim;
    this.backbone = Backbone.build(store, {
      encoder: config.encoder,
      features: config.features,
      useIds: config.useIds,
      maxParticles: config.maxParticles,
    }, rng);
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
    } else if (config.objective === "bert") {
      this.maskTokens = store.create(
        "mask_tokens",
        [config.maxParticles, De],
        rng.normal(config.maxParticles * De, 1e-3),
      );
      if (config.bertHead) {
        this.bertHead = [
          new Linear(rest, "bert_head.lin1", De, De),
          new Linear(rest, "bert_head.lin2", De, Dd),
        ];
      }
    }
  }

  /**
   * Width of the features given to the task heads: the decoder's, or with `bert` (and no
   * `bertHead`) the encoder's.
   */
  get headDim(): number {
    const c = this.config;
    return c.objective === "bert" && !c.bertHead ? c.encoder.dim : c.decoder.dim;
  }

  /** Backbone on full jets: (B, R + N, encoder dim) and the combined validity. */
  encode(tape: Tape, x: Tensor, ids: Tensor, valid: Validity): { out: Tensor; valid: Validity } {
    return this.backbone.forward(tape, x, ids, valid);
  }

  /** The pre-training pass on a prepared batch. */
  forward(tape: Tape, inp: StepInputs): MPMPassOutput {
    switch (this.config.objective) {
      case "mae":
        return { objective: "mae", dropped: this.#mae(tape, inp) };
      case "bert":
        return { objective: "bert", dropped: this.#bert(tape, inp) };
      default:
        return {
          objective: "ssfm",
          encoder: this.backbone.forward(tape, inp.xKept, inp.idsKept, inp.keptValid),
        };
    }
  }

  #maskRows(tape: Tape, inp: StepInputs): Tensor {
    // (M, T) one-hot of each dropped particle's pT rank x (T, D) token table.
    return ops.matmulOp(tape, inp.maskOnehot, tape.param(this.maskTokens!));
  }

  #mae(tape: Tape, inp: StepInputs): Tensor {
    const { B, N, R, Nk } = inp, Dd = this.config.decoder.dim;
    const enc = this.backbone.forward(tape, inp.xKept, inp.idsKept, inp.keptValid);
    const proj = this.encToDec!.forward(tape, enc.out);
    const shape = [B, R + N, Dd];
    const kept = inp.placeKept, tok = inp.placeTokens;
    const placed = ops.gatherRows(
      tape,
      proj.reshape([B * (R + Nk), Dd]),
      kept.idx,
      kept.inv,
      shape,
    );
    const tokens = ops.gatherRows(tape, this.#maskRows(tape, inp), tok.idx, tok.inv, shape);
    // The decoder has no registers of its own: it attends over the encoder's and the particles.
    const dec = this.decoder!.forward(tape, ops.add(tape, placed, tokens), inp.decValid);
    return ops.gatherRows(tape, dec.out.reshape([B * (R + N), Dd]), tok.inv, tok.idx, [
      Math.max(inp.M, 1),
      Dd,
    ]);
  }

  #bert(tape: Tape, inp: StepInputs): Tensor {
    const { B, N, R } = inp, De = this.config.encoder.dim;
    const emb = this.backbone.embed.forward(tape, inp.x, inp.ids);
    const keep = inp.bertKept, tok = inp.bertTokens, rows = inp.bertDropRows;
    const kept = ops.gatherRows(tape, emb.reshape([B * N, De]), keep.idx, keep.inv, [B, N, De]);
    const tokens = ops.gatherRows(tape, this.#maskRows(tape, inp), tok.idx, tok.inv, [B, N, De]);
    const enc = this.backbone.encoder.forward(tape, ops.add(tape, kept, tokens), inp.valid);
    const dropped = ops.gatherRows(
      tape,
      enc.out.reshape([B * (R + N), De]),
      rows.idx,
      rows.inv,
      [Math.max(inp.M, 1), De],
    );
    if (!this.bertHead) return dropped;
    const [l1, l2] = this.bertHead;
    return l2.forward(tape, ops.silu(tape, l1.forward(tape, dropped)));
  }
}
