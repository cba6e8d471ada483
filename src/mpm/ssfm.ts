/**
 * Set-to-set flow matching (SSFM): the encoder sees the visible particles; a decoder of
 * adaLN-conditioned cross-attention blocks generates the whole dropped set at once.
 *
 * - State y = [continuous features (F), one-hot particle type (8, when the model uses types)];
 *   one time t per jet, t = sigmoid(z), z ~ N(0, 1) (logit-normal); x_t = (1 - t) y + t ε with
 *   ε ~ N(0, I); the decoder predicts the velocity ε - y; MSE over the dropped particles.
 * - Decoder: Linear(width -> dim) on x_t; `layers` {@linkcode AdaLNCrossBlock}s (self-attention
 *   among the dropped particles of the jet, cross-attention to Linear(encoder dim -> dim) of the
 *   encoder outputs including registers, SwiGLU), each modulated by the time embedding; LayerNorm;
 *   Linear(dim -> width). The time embedding is the reference's (`timeEmbedding: "reference"`,
 *   the default): the cosine encoding cos(π t e^k), k < 32, through an MLP 32 -> 128 -> 128 -> 32
 *   (hidden blocks Linear, SiLU, LayerNorm), a 32-wide conditioning; `"sinusoidal"` keeps this
 *   library's earlier one (sin/cos(π t 2^(k/2)), k < 16, then Linear -> SiLU -> Linear to the
 *   decoder width), which runs made before the change use.
 * - Each jet drops a fraction of its particles drawn uniformly from [minDrop, maxDrop]
 *   (the paper: 0-0.8), so one model completes jets and, with everything dropped, generates
 *   whole jets of a requested multiplicity (the encoder then sees its registers only).
 * - Sampling: fixed-step midpoint (RK2) integration from t = 1 (noise) to t = 0 (data); the
 *   type is the argmax of the generated one-hot block.
 *
 * The reference trains this model but has no sampler; ours adds it. Noise and times come from a
 * per-batch seeded generator on the host, so runs are reproducible and resumable.
 *
 * @module
 */
import * as ops from "../autograd/ops.ts";
import type { ParameterStore } from "../autograd/parameters.ts";
import { Tape } from "../autograd/tape.ts";
import { Rng } from "../data/rng.ts";
import type { Gpu } from "../gpu/gpu.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { axpby } from "../kernels/elementwise.ts";
import { AdaLNCrossBlock } from "../nn/adaln.ts";
import type { InitRng } from "../nn/init.ts";
import { type LayerContext, LayerNorm, Linear } from "../nn/layers.ts";
import type { Backbone } from "./backbone.ts";
import type { MPMConfig } from "./config.ts";
import type { MPMPassOutput } from "./model.ts";
import { type DroppedSets, droppedSets, type StepInputs } from "./prepare.ts";
import { defineTask, type PretrainTask, type PretrainTaskDef } from "./tasks.ts";
import { uniformMasking } from "../data/masking.ts";
import { Validity } from "../nn/validity.ts";
import { cosineTimeEmbedding, MLP } from "./cfm.ts";

/** Width of the time features (the cosine or the sinusoidal encoding). */
export const SSFM_TIME_FEATURES = 32;

/** The reference time MLP's widths: features -> hidden -> hidden -> conditioning. */
export const SSFM_TIME_MLP: readonly number[] = [SSFM_TIME_FEATURES, 128, 128, 32];

/** Particle types in the generated one-hot block. */
export const SSFM_TYPES = 8;

/** Integration steps recorded ahead of the device before the sampler waits for it. */
const SYNC_EVERY = 8;

/**
 * Sinusoidal time features: sin(π t 2^(k/2)) and cos(π t 2^(k/2)) for k = 0..n/2-1, one row per
 * entry of `t`.
 *
 * @example
 * ```ts
 * import { sinusoidalTimeEmbedding } from "@mpm/webgpu/mpm";
 * const e = sinusoidalTimeEmbedding(new Float32Array([0]));
 * console.assert(e.length === 32 && e[0] === 0 && e[16] === 1);
 * ```
 */
export function sinusoidalTimeEmbedding(
  t: ArrayLike<number>,
  n = SSFM_TIME_FEATURES,
): Float32Array {
  const h = n / 2, out = new Float32Array(t.length * n);
  for (let i = 0; i < t.length; i++) {
    for (let k = 0; k < h; k++) {
      const a = Math.PI * t[i] * 2 ** (k / 2);
      out[i * n + k] = Math.sin(a);
      out[i * n + h + k] = Math.cos(a);
    }
  }
  return out;
}

/** Shape of the SSFM decoder. */
export interface SSFMOptions {
  /** Continuous features F. */
  features: number;
  /** Generate the particle type as a one-hot block of 8. */
  ids: boolean;
  /** Encoder width (the context). */
  encoderDim: number;
  /** Decoder width. */
  dim: number;
  /** Decoder blocks. */
  layers: number;
  /** Attention heads. */
  heads: number;
  /** SwiGLU multiplier. Default 2. */
  ffMult?: number;
  /** Smallest fraction of each jet dropped in training. */
  minDrop: number;
  /** Largest fraction dropped. */
  maxDrop: number;
  /** Seed of the training noise. */
  seed: number;
  /** Loss weight. Default 1. */
  weight?: number;
  /** Midpoint steps of the validation sampler. Default 50. */
  sampleSteps?: number;
  /** The time embedding (see the module documentation). Default `"reference"`. */
  timeEmbedding?: "reference" | "sinusoidal";
}

/** Settings of the ssfm task in `config.tasks.ssfm`. */
export interface SSFMSettings {
  /** Loss weight. */
  weight: number;
  /** Smallest fraction of each jet dropped. */
  minDrop: number;
  /** Largest fraction dropped. */
  maxDrop: number;
  /** Midpoint steps of the sampler (validation and generation). */
  sampleSteps?: number;
  /** The time embedding: `"reference"` (default) or `"sinusoidal"` (runs made before it). */
  timeEmbedding?: "reference" | "sinusoidal";
  /** Other options (none yet). */
  [option: string]: unknown;
}

/**
 * The SSFM decoder's options for a run configuration (its `decoder` sizes the generative
 * decoder; `tasks.ssfm` holds the drop range): one place for pre-training and generation.
 *
 * @example
 * ```ts
 * import { preset, ssfmOptions, withSSFM } from "@mpm/webgpu/mpm";
 * const o = ssfmOptions(withSSFM(preset("small")));
 * console.assert(o.dim === 64 && o.maxDrop === 0.8 && o.encoderDim === 64);
 * ```
 */
export function ssfmOptions(config: MPMConfig): SSFMOptions {
  const s = config.tasks.ssfm;
  if (config.objective !== "ssfm" || !s) {
    throw new Error(
      `a '${config.objective}' configuration has no generative decoder (objective 'ssfm' with tasks.ssfm)`,
    );
  }
  return {
    features: config.features.length,
    ids: config.useIds,
    encoderDim: config.encoder.dim,
    dim: config.decoder.dim,
    layers: config.decoder.layers,
    heads: config.decoder.heads,
    ffMult: config.decoder.ffMult,
    minDrop: s.minDrop,
    maxDrop: s.maxDrop,
    seed: config.train.seed,
    weight: s.weight,
    sampleSteps: s.sampleSteps,
    timeEmbedding: s.timeEmbedding,
  };
}

/**
 * The configuration of a saved SSFM run with its time embedding made explicit: a run saved
 * before the reference embedding became the default (its weights hold `tasks.ssfm.time.0.*` and
 * its config names no embedding) gets `timeEmbedding: "sinusoidal"`, so it loads and resumes as
 * it was trained. Other configurations come back unchanged.
 *
 * @param config the run's `config.json`
 * @param names the tensor names of its weights file
 * @returns the configuration to build the run's model from
 * @example
 * ```ts
 * import { preset, savedTimeEmbedding, withSSFM } from "@mpm/webgpu/mpm";
 * const old = savedTimeEmbedding(withSSFM(preset("small")), ["tasks.ssfm.time.0.weight"]);
 * console.assert(old.tasks.ssfm!.timeEmbedding === "sinusoidal");
 * ```
 */
export function savedTimeEmbedding(config: MPMConfig, names: Iterable<string>): MPMConfig {
  const s = config.tasks.ssfm;
  if (config.objective !== "ssfm" || !s || s.timeEmbedding !== undefined) return config;
  for (const n of names) {
    if (n.startsWith("tasks.ssfm.time.")) {
      return { ...config, tasks: { ...config.tasks, ssfm: { ...s, timeEmbedding: "sinusoidal" } } };
    }
  }
  return config;
}

/** Generated particles: normalised features and types. */
export interface GeneratedParticles {
  /** (rows, F) normalised continuous features. */
  x: Float32Array;
  /** (rows) particle types (argmax of the one-hot block; zeros without types). */
  ids: Int32Array;
}

/**
 * The SSFM task: decoder, loss, and samplers (see the module documentation).
 *
 * @example
 * ```ts ignore
 * const ssfm = new SSFMTask(store, rng, { features: 7, ids: true, encoderDim: 64, dim: 64,
 *   layers: 3, heads: 4, minDrop: 0, maxDrop: 0.8, seed: 42 });
 * ```
 */
export class SSFMTask implements PretrainTask {
  readonly name = "ssfm";
  readonly label = "SSFM";
  readonly weight: number;
  /** Options. */
  readonly options: SSFMOptions;
  /** Width of the generated state (F + 8 with types). */
  readonly width: number;
  /** The reference time MLP (32 -> 128 -> 128 -> 32), or null with `"sinusoidal"`. */
  readonly timeMlp: MLP | null;
  /** `"sinusoidal"`: Linear(32 -> dim), SiLU, Linear(dim -> dim); null otherwise. */
  readonly time: [Linear, Linear] | null;
  /** Encoder outputs -> decoder width. */
  readonly context: Linear;
  /** x_t -> decoder width. */
  readonly input: Linear;
  /** Decoder blocks. */
  readonly blocks: AdaLNCrossBlock[];
  /** Final norm. */
  readonly norm: LayerNorm;
  /** Decoder width -> velocity. */
  readonly output: Linear;

  /** Registers `tasks.ssfm.*`. */
  constructor(store: ParameterStore, rng: InitRng, o: SSFMOptions) {
    if (!(o.minDrop >= 0 && o.maxDrop <= 1 && o.minDrop <= o.maxDrop)) {
      throw new RangeError(`ssfm: drop range [${o.minDrop}, ${o.maxDrop}] must lie in [0, 1]`);
    }
    this.options = o;
    this.weight = o.weight ?? 1;
    this.width = o.features + (o.ids ? SSFM_TYPES : 0);
    const ctx: LayerContext = { store, rng };
    const D = o.dim;
    const sinusoidal = o.timeEmbedding === "sinusoidal";
    if (o.timeEmbedding !== undefined && !sinusoidal && o.timeEmbedding !== "reference") {
      throw new RangeError(
        `ssfm: timeEmbedding "${o.timeEmbedding}" is not "reference" or "sinusoidal"`,
      );
    }
    this.timeMlp = sinusoidal ? null : new MLP(ctx, "tasks.ssfm.time_mlp", SSFM_TIME_MLP);
    this.time = sinusoidal
      ? [
        new Linear(ctx, "tasks.ssfm.time.0", SSFM_TIME_FEATURES, D),
        new Linear(ctx, "tasks.ssfm.time.1", D, D),
      ]
      : null;
    const condDim = sinusoidal ? D : SSFM_TIME_MLP.at(-1)!;
    this.context = new Linear(ctx, "tasks.ssfm.context", o.encoderDim, D);
    this.input = new Linear(ctx, "tasks.ssfm.input", this.width, D);
    this.blocks = Array.from(
      { length: o.layers },
      (_, i) =>
        new AdaLNCrossBlock(ctx, `tasks.ssfm.blocks.${i}`, D, o.heads, {
          contextDim: D,
          condDim,
          ffMult: o.ffMult,
        }),
    );
    this.norm = new LayerNorm(ctx, "tasks.ssfm.norm", D);
    this.output = new Linear(ctx, "tasks.ssfm.output", D, this.width);
  }

  /** The decoder context: projected encoder outputs (B, R + Nk, dim). */
  projectContext(tape: Tape, encoded: Tensor): Tensor {
    return this.context.forward(tape, encoded);
  }

  /**
   * Velocity (B, Nd, width) at states `xt` (B, Nd, width) with validity (B, Nd), given the
   * projected context and per-jet times `t` (B).
   */
  velocity(
    tape: Tape,
    xt: Tensor,
    valid: Tensor,
    context: Tensor,
    contextValid: Tensor,
    t: ArrayLike<number>,
  ): Tensor {
    const cond = this.conditioning(tape, xt.gpu, t);
    let h = this.input.forward(tape, xt);
    for (const blk of this.blocks) h = blk.forward(tape, h, valid, context, contextValid, cond);
    return this.output.forward(tape, this.norm.forward(tape, h));
  }

  /**
   * The per-jet time conditioning the decoder blocks are modulated by: (B, 32) with the
   * reference embedding, (B, dim) with `"sinusoidal"`.
   *
   * @param tape the tape recording the pass
   * @param gpu the device
   * @param t one time per jet
   * @returns the conditioning rows
   */
  conditioning(tape: Tape, gpu: Gpu, t: ArrayLike<number>): Tensor {
    const B = t.length;
    if (this.timeMlp) {
      const temb = cosineTimeEmbedding(Float32Array.from(t), SSFM_TIME_FEATURES);
      return this.timeMlp.forward(tape, tape.keep(gpu.upload(temb, [B, SSFM_TIME_FEATURES])));
    }
    const [l0, l1] = this.time!;
    const temb = tape.keep(gpu.upload(sinusoidalTimeEmbedding(t), [B, SSFM_TIME_FEATURES]));
    return l1.forward(tape, ops.silu(tape, l0.forward(tape, temb)));
  }

  /** The state y = [features, one-hot type] of the dropped particles, laid out as sets. */
  #targets(inp: StepInputs, sets: DroppedSets): Float32Array {
    const F = this.options.features, W = this.width;
    const y = new Float32Array(sets.B * sets.Nd * W);
    for (let m = 0; m < inp.M; m++) {
      const row = sets.rowOfM[m];
      for (let f = 0; f < F; f++) y[row * W + f] = inp.xDropHost[m * F + f];
      if (this.options.ids) y[row * W + F + inp.idsDropHost[m]] = 1;
    }
    return y;
  }

  loss(tape: Tape, pass: MPMPassOutput, inp: StepInputs): Tensor {
    if (pass.objective !== "ssfm") {
      throw new Error("ssfm: the model must run with objective 'ssfm'");
    }
    const gpu = tape.gpu, W = this.width;
    const sets = droppedSets(inp.dropCount);
    const { B, Nd } = sets;
    const y = this.#targets(inp, sets);
    // Each jet draws its time and noise from its own stream (its dropped slots first, then its
    // padding), so a jet draws the same whatever batch, or data-parallel share, it sits in.
    const t = new Float32Array(B);
    const xt = new Float32Array(y.length), v = new Float32Array(y.length);
    for (let b = 0; b < B; b++) {
      const r = new Rng(this.options.seed ^ 0x7373666d, inp.streamIndex + b);
      t[b] = 1 / (1 + Math.exp(-r.n()));
      for (let i = b * Nd * W; i < (b + 1) * Nd * W; i++) {
        const e = r.n();
        xt[i] = (1 - t[b]) * y[i] + t[b] * e;
        v[i] = e - y[i];
      }
    }
    const up = <T extends Float32Array | Uint32Array>(a: T, shape: number[]) =>
      tape.keep(gpu.upload(a, shape));
    const valid = up(sets.valid, [B, Nd]);
    const ctx = this.projectContext(tape, pass.encoder.out);
    const pred = this.velocity(tape, up(xt, [B, Nd, W]), valid, ctx, pass.encoder.valid.tensor, t);
    return ops.pointwiseLoss(tape, "mse", pred.reshape([B * Nd, W]), up(v, [B * Nd, W]), {
      valid: valid.reshape([B * Nd]),
    });
  }

  /**
   * Integrates the flow from noise to data for padded sets with validity `sets` given the
   * projected context; returns the state (B * Nd, width). One tape and submit per step.
   */
  async integrate(
    gpu: Gpu,
    context: Tensor,
    contextValid: Tensor,
    sets: DroppedSets,
    o: { steps?: number; seed?: number; stream?: number } = {},
  ): Promise<Float32Array> {
    const { B, Nd } = sets, W = this.width, steps = o.steps ?? 50;
    if (!(steps >= 1)) throw new RangeError(`ssfm: sampler steps must be >= 1, got ${steps}`);
    const r = new Rng((o.seed ?? 0) ^ 0x73736d70, o.stream ?? 0);
    let x = gpu.upload(Float32Array.from({ length: B * Nd * W }, () => r.n()), [B, Nd, W]);
    const valid = gpu.upload(sets.valid, [B, Nd]);
    const dt = -1 / steps;
    for (let i = 0; i < steps; i++) {
      const t0 = 1 + i * dt, tape = new Tape(gpu);
      const vel = (xt: Tensor, t: number) =>
        this.velocity(tape, xt, valid, context, contextValid, new Float32Array(B).fill(t));
      const mid = tape.keep(axpby(x, vel(x, t0), { alpha: 1, beta: dt / 2 }));
      const next = axpby(x, vel(mid, t0 + dt / 2), { alpha: 1, beta: dt });
      x.dispose();
      x = next;
      tape.dispose();
      gpu.submit();
      // Every few steps, let the device catch up: the host's upload staging is only reclaimed
      // once the work that used it has run. In between, the host records the next step while
      // the device runs this one.
      if (i % SYNC_EVERY === SYNC_EVERY - 1) await gpu.sync();
    }
    const out = await x.read() as Float32Array;
    x.dispose();
    valid.dispose();
    return out;
  }

  /** Splits states (rows, width) into normalised features and argmax types. */
  decode(state: Float32Array, rows: ArrayLike<number>): GeneratedParticles {
    const F = this.options.features, W = this.width, n = rows.length;
    const x = new Float32Array(n * F), ids = new Int32Array(n);
    for (let k = 0; k < n; k++) {
      const base = rows[k] * W;
      x.set(state.subarray(base, base + F), k * F);
      if (this.options.ids) {
        let best = 0;
        for (let c = 1; c < SSFM_TYPES; c++) {
          if (state[base + F + c] > state[base + F + best]) best = c;
        }
        ids[k] = best;
      }
    }
    return { x, ids };
  }

  /**
   * Generates the dropped particles of a prepared batch given its visible ones; rows in the
   * order m of {@linkcode MPMInputs} (the completion report's layout).
   */
  async sample(
    tape: Tape,
    pass: MPMPassOutput,
    inp: StepInputs,
    o: { steps?: number; seed?: number } = {},
  ): Promise<GeneratedParticles> {
    if (pass.objective !== "ssfm") {
      throw new Error("ssfm: the model must run with objective 'ssfm'");
    }
    const sets = droppedSets(inp.dropCount);
    const ctx = this.projectContext(tape, pass.encoder.out);
    const state = await this.integrate(tape.gpu, ctx, pass.encoder.valid.tensor, sets, {
      ...o,
      stream: inp.streamIndex,
    });
    return this.decode(state, sets.rowOfM);
  }

  /**
   * Generates whole jets: everything dropped, so the encoder sees only its registers; jet b
   * gets `multiplicity[b]` particles (rows b * max + j). Returns the padded sets.
   */
  async generate(
    backbone: Backbone,
    multiplicity: Int32Array,
    o: { steps?: number; seed?: number; stream?: number } = {},
  ): Promise<GeneratedParticles & { sets: DroppedSets }> {
    const gpu = backbone.store.gpu, B = multiplicity.length, F = this.options.features;
    if (multiplicity.some((n) => !(n >= 1))) {
      throw new RangeError("ssfm: every generated jet needs at least one particle");
    }
    const sets = droppedSets(multiplicity);
    const tape = new Tape(gpu);
    const enc = backbone.forward(
      tape,
      tape.keep(gpu.zeros([B, 1, F])),
      tape.keep(gpu.zeros([B, 1], "i32")),
      Validity.onTape(tape, new Uint32Array(B), B, 1),
    );
    const ctx = this.projectContext(tape, enc.out);
    const state = await this.integrate(gpu, ctx, enc.valid.tensor, sets, o);
    tape.dispose();
    const all = Int32Array.from({ length: B * sets.Nd }, (_, i) => i);
    return { ...this.decode(state, all), sets };
  }

  /** Validation samples of the dropped particles (the run's seed, `sampleSteps` steps). */
  async sampleDropped(tape: Tape, pass: MPMPassOutput, inp: StepInputs): Promise<Float32Array> {
    const o = this.options;
    return (await this.sample(tape, pass, inp, { steps: o.sampleSteps ?? 50, seed: o.seed })).x;
  }
}

/** `--tasks ssfm`: objective `ssfm`, combinable only with the probe. */
export const SSFM_TASK: PretrainTaskDef = defineTask<SSFMSettings>({
  name: "ssfm",
  summary: "set-to-set flow matching: a generative decoder of each jet's dropped set",
  objectives: ["ssfm"],
  ownsObjective: "ssfm",
  defaults: () => ({ weight: 1, minDrop: 0, maxDrop: 0.8 }),
  masking: (s) => (batch, seed) =>
    uniformMasking(batch.valid, batch.size, batch.nParticles, {
      seed,
      jetIndex: batch.streamIndex,
      pt: batch.raw,
      ptStride: batch.features.length,
      min: s.minDrop,
      max: s.maxDrop,
    }),
  build: (ctx) => new SSFMTask(ctx.store, ctx.rng, ssfmOptions(ctx.config)),
});
