/**
 * Downstream heads on backbone outputs (B, R + N, D) with validity (B, R + N):
 *
 * - {@linkcode ClassAttentionHead}: Linear(D -> 128) on every token, one learnable class token, 2
 *   class-attention layers (4 heads, SwiGLU ff_mult 1, dropout 0.2, no LayerScale), Linear to
 *   the classes (or 1 logit), as the reference's `ClassAttentionPooling` head. Dropout is applied
 *   to the attention output and the feed-forward hidden layer (the fused attention kernel has no
 *   in-kernel dropout of the probabilities).
 * - {@linkcode TrackHead}: per-track MLP (3 blocks Linear -> SiLU -> LayerNorm -> Dropout) to 4
 *   track-origin classes.
 * - {@linkcode VertexHead}: per-track MLP F and, for each pair of real tracks i < j, a logit
 *   G(|F(z_i) - F(z_j)|) (a twin network).
 *
 * @module
 */
import * as ops from "../autograd/ops.ts";
import type { Parameter, ParameterStore } from "../autograd/parameters.ts";
import type { Tape } from "../autograd/tape.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { RandomKey } from "../kernels/random.ts";
import type { InitRng } from "../nn/init.ts";
import {
  CrossAttention,
  type LayerContext,
  LayerNorm,
  Linear,
  SwiGLUFeedForward,
} from "../nn/layers.ts";

/** Dropout settings of a forward pass (training only). */
export interface DropoutContext {
  /** Probability; 0 at evaluation. */
  p: number;
  /** Seed of the run. */
  seed: number;
  /** Distinct per step (e.g. the step number). */
  step: number;
  /**
   * The batch's jets: the first one's index in the run's stream, and how many. When given, each
   * jet draws its masks from its own range of the random stream (`JET_COUNTERS` counters per jet,
   * `step` unused), so a jet's dropout does not depend on the batch it sits in, on trimming, or
   * on the rank that computes it: a data-parallel share draws what the whole batch would.
   * Dropped tensors must be jet-major (leading axis B, or B·N rows).
   */
  jets?: { first: number; count: number };
}

/** Random counters reserved per jet and dropout site when `DropoutContext.jets` is given. */
const JET_COUNTERS = 2 ** 20;

/** A stable random-stream id for a named dropout site (independent of construction order). */
function streamOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return 1000 + (h % 1_000_000);
}

function drop(tape: Tape, x: Tensor, d: DropoutContext | undefined, stream: number): Tensor {
  if (!d || d.p <= 0) return x;
  let key: RandomKey = { seed: d.seed, stream, offset: d.step * 2 ** 24 };
  if (d.jets) {
    const length = x.size / d.jets.count;
    if (!Number.isInteger(length) || length > JET_COUNTERS) {
      throw new RangeError(
        `dropout: [${x.shape}] is not ${d.jets.count} jets of at most ${JET_COUNTERS} values`,
      );
    }
    key = { ...key, offset: d.jets.first * JET_COUNTERS, rows: { length, stride: JET_COUNTERS } };
  }
  return ops.dropout(tape, x, d.p, key);
}

function ctx(store: ParameterStore, rng: InitRng): LayerContext {
  return { store, rng, group: "head" };
}

/**
 * Class-attention classifier head.
 *
 * @example
 * ```ts ignore
 * const head = new ClassAttentionHead(store, rng, 64, 10);
 * const logits = head.forward(tape, tokens, valid, { p: 0.2, seed, step }); // (B, 10)
 * ```
 */
export class ClassAttentionHead {
  /** Token projection D -> 128. */
  readonly proj: Linear;
  /** (1, 128) class token, init N(0, 1). */
  readonly classToken: Parameter;
  /** Two class-attention layers. */
  readonly layers: {
    norm: LayerNorm;
    attn: CrossAttention;
    normFf: LayerNorm;
    ff: SwiGLUFeedForward;
  }[];
  /** Output layer (trunc-normal std 0.01, zero bias). */
  readonly out: Linear;
  readonly #streams: number[];

  /** Registers `head.*` parameters (group `head`). */
  constructor(
    store: ParameterStore,
    rng: InitRng,
    inDim: number,
    outputs: number,
    dim = 128,
    heads = 4,
  ) {
    const c = ctx(store, rng);
    this.proj = new Linear(c, "head.proj", inDim, dim);
    this.classToken = store.create("head.class_token", [1, dim], rng.normal(dim, 1), "head");
    this.layers = [0, 1].map((i) => ({
      norm: new LayerNorm(c, `head.layers.${i}.norm1`, dim),
      attn: new CrossAttention(c, `head.layers.${i}.attn`, dim, heads),
      normFf: new LayerNorm(c, `head.layers.${i}.norm2`, dim),
      ff: new SwiGLUFeedForward(c, `head.layers.${i}.ff`, dim, 1),
    }));
    const w = rng.normal(outputs * dim, 0.01).map((v) => Math.max(-0.02, Math.min(0.02, v)));
    this.out = new Linear(c, "head.out", dim, outputs, {
      weightInit: w,
      biasInit: new Float32Array(outputs),
    });
    this.#streams = [0, 1, 2, 3].map((k) => streamOf(`head.dropout.${k}`));
  }

  /** Logits (B, outputs) from tokens (B, T, D) and their validity (B, T). */
  forward(tape: Tape, tokens: Tensor, valid: Tensor, dropout?: DropoutContext): Tensor {
    const B = tokens.shape[0];
    const kv = this.proj.forward(tape, tokens);
    const empty = tape.keep(tokens.gpu.empty([B, 0, kv.shape[2]]));
    let g = ops.prependRows(tape, tape.param(this.classToken), empty); // (B, 1, dim)
    this.layers.forEach((l, i) => {
      const a = l.attn.forward(tape, l.norm.forward(tape, g), kv, valid);
      g = ops.add(tape, g, drop(tape, a, dropout, this.#streams[2 * i]));
      const h = l.ff.lin1.forward(tape, l.normFf.forward(tape, g));
      const f = l.ff.lin2.forward(
        tape,
        drop(tape, ops.swiglu(tape, h), dropout, this.#streams[2 * i + 1]),
      );
      g = ops.add(tape, g, f);
    });
    return this.out.forward(tape, g.reshape([B, g.shape[2]]));
  }
}

/**
 * A per-token MLP: blocks Linear -> SiLU -> LayerNorm -> Dropout, then a linear output.
 *
 * @example
 * ```ts ignore
 * const mlp = new TokenMLP(ctx, "head.mlp", [64, 128, 128, 4]);
 * ```
 */
export class TokenMLP {
  /** Hidden blocks. */
  readonly blocks: { lin: Linear; norm: LayerNorm }[];
  /** Output layer. */
  readonly out: Linear;
  readonly #stream: number;

  /** `dims` = [input, hidden..., output]. */
  constructor(c: LayerContext, name: string, dims: readonly number[]) {
    this.blocks = dims.slice(1, -1).map((d, i) => ({
      lin: new Linear(c, `${name}.blocks.${i}.lin`, dims[i], d),
      norm: new LayerNorm(c, `${name}.blocks.${i}.norm`, d),
    }));
    this.out = new Linear(c, `${name}.out`, dims[dims.length - 2], dims[dims.length - 1]);
    this.#stream = streamOf(name);
  }

  /** Applies the MLP to the last axis. */
  forward(tape: Tape, x: Tensor, dropout?: DropoutContext): Tensor {
    let h = x;
    this.blocks.forEach((b, i) => {
      h = drop(
        tape,
        b.norm.forward(tape, ops.silu(tape, b.lin.forward(tape, h))),
        dropout,
        this.#stream + 1000 * i,
      );
    });
    return this.out.forward(tape, h);
  }
}

/**
 * Track-origin head: per-track MLP D -> 128 x 3 -> 4 (primary, charm, bottom, other).
 *
 * @example
 * ```ts ignore
 * const logits = new TrackHead(store, rng, 64).forward(tape, trackTokens); // (B*N, 4)
 * ```
 */
export class TrackHead {
  /** The MLP. */
  readonly mlp: TokenMLP;

  /** Registers `head.mlp.*`. */
  constructor(store: ParameterStore, rng: InitRng, inDim: number, classes = 4, hidden = 128) {
    this.mlp = new TokenMLP(ctx(store, rng), "head.mlp", [inDim, hidden, hidden, hidden, classes]);
  }

  /** Logits (..., classes) per track. */
  forward(tape: Tape, tracks: Tensor, dropout?: DropoutContext): Tensor {
    return this.mlp.forward(tape, tracks, dropout);
  }
}

/**
 * Vertex-finding twin head: F = per-track MLP (D -> 128 x 3 -> width); edge logit
 * G(|F(z_i) - F(z_j)|) = Linear(width -> 1) for each listed pair.
 *
 * @example
 * ```ts ignore
 * const logits = head.forward(tape, tracks2d, pairI, pairJ, invI, invJ); // (P, 1)
 * ```
 */
export class VertexHead {
  /** F. */
  readonly f: TokenMLP;
  /** G. */
  readonly g: Linear;

  /** Registers `head.f.*` and `head.g.*`. */
  constructor(store: ParameterStore, rng: InitRng, inDim: number, width = 128, hidden = 128) {
    const c = ctx(store, rng);
    this.f = new TokenMLP(c, "head.f", [inDim, hidden, hidden, hidden, width]);
    this.g = new Linear(c, "head.g", width, 1);
  }

  /**
   * Edge logits (B, P, 1) for every pair slot of every jet: `pairs.first`/`second` (B, P, N)
   * one-hots select the two tracks of pair p (pairs live within a jet, so the selection is a
   * small batched matmul).
   */
  forward(tape: Tape, tracks: Tensor, pairs: PairIndex, dropout?: DropoutContext): Tensor {
    const f = this.f.forward(tape, tracks, dropout);
    const fi = ops.matmulOp(tape, pairs.first, f), fj = ops.matmulOp(tape, pairs.second, f);
    return this.g.forward(tape, ops.absDiff(tape, fi, fj));
  }
}

/** Pair selection: (B, P, N) one-hots of the first and second track of each pair slot. */
export interface PairIndex {
  /** (B, P, N) one-hot rows. */
  first: Tensor;
  /** (B, P, N) one-hot rows. */
  second: Tensor;
}

/**
 * The N(N-1)/2 pair slots (i < j, row-major) of jets with N track slots, their selection
 * one-hots (B, P, N), which slots hold two real tracks, and whether they share a vertex.
 *
 * @example
 * ```ts
 * import { pairSlots } from "@mpm/webgpu/heads";
 * const s = pairSlots(new Uint32Array([1, 1, 0]), new Int32Array([0, 0, 0]), 1, 3);
 * console.assert(s.P === 3 && s.valid[0] === 1 && s.valid[1] === 0 && s.same[0] === 1);
 * ```
 */
export function pairSlots(
  valid: ArrayLike<number>,
  vtx: ArrayLike<number>,
  B: number,
  N: number,
): {
  P: number;
  first: Float32Array;
  second: Float32Array;
  valid: Uint32Array;
  same: Float32Array;
} {
  const P = (N * (N - 1)) / 2;
  const first = new Float32Array(B * P * N), second = new Float32Array(B * P * N);
  const v = new Uint32Array(B * P), same = new Float32Array(B * P);
  for (let b = 0; b < B; b++) {
    let p = 0;
    for (let i = 0; i < N; i++) {
      for (let j = i + 1; j < N; j++, p++) {
        const k = b * P + p;
        first[k * N + i] = 1;
        second[k * N + j] = 1;
        v[k] = valid[b * N + i] && valid[b * N + j] ? 1 : 0;
        same[k] = v[k] && vtx[b * N + i] === vtx[b * N + j] ? 1 : 0;
      }
    }
  }
  return { P, first, second, valid: v, same };
}
