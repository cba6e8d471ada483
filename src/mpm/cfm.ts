/**
 * Conditional flow matching (CFM) for the dropped particles, as the reference's `DiffTask`:
 *
 * - context c = Linear(D -> 128)(decoder output);
 * - velocity MLP on [x_t (F), cos(π t e^k) for k = 0..15, c] -> 128 -> 128 -> 128 -> F, hidden
 *   blocks Linear -> SiLU -> LayerNorm;
 * - t = sigmoid(z), z ~ N(0, 1) (logit-normal), one per particle; x_t = (1 - t) x0 + t x1 with
 *   x1 ~ N(0, I); target v = x1 - x0; MSE;
 * - an EMA copy of the MLP (decay 0.999) updated after every step, used by the sampler;
 * - a midpoint (RK2) ODE sampler from t = 1 (noise) to t = 0 (data) on a uniform grid of
 *   `steps` steps (the reference uses 49), generating the dropped particles' features given the
 *   visible ones.
 *
 * The noise and times come from a per-batch seeded generator on the host (the data x0 is on the
 * host already), so runs are reproducible and resumable.
 *
 * @module
 */
import * as ops from "../autograd/ops.ts";
import type { ParameterStore } from "../autograd/parameters.ts";
import type { Tape } from "../autograd/tape.ts";
import { Rng } from "../data/rng.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { accumulate, axpby } from "../kernels/elementwise.ts";
import { InitRng } from "../nn/init.ts";
import { type LayerContext, LayerNorm, Linear } from "../nn/layers.ts";
import type { StepInputs } from "./prepare.ts";
import { droppedFeatures, type MPMPassOutput } from "./model.ts";
import { defineTask, droppedValid, type PretrainTask, type PretrainTaskDef } from "./tasks.ts";

/** Number of cosine time features. */
export const TIME_FEATURES = 16;

/**
 * The reference's cosine time encoding: cos(π t e^k), k = 0..n-1 (frequencies e^0..e^15).
 *
 * @example
 * ```ts
 * import { cosineTimeEmbedding } from "@mpm/webgpu/mpm";
 * console.assert(cosineTimeEmbedding(new Float32Array([0]))[5] === 1);
 * ```
 */
export function cosineTimeEmbedding(t: Float32Array, n = TIME_FEATURES): Float32Array {
  const out = new Float32Array(t.length * n);
  for (let i = 0; i < t.length; i++) {
    for (let k = 0; k < n; k++) out[i * n + k] = Math.cos(Math.PI * t[i] * Math.exp(k));
  }
  return out;
}

/**
 * An MLP whose hidden blocks are Linear -> SiLU -> LayerNorm, with a linear output.
 *
 * @example
 * ```ts ignore
 * const mlp = new MLP(ctx, "net", [151, 128, 128, 128, 7]);
 * ```
 */
export class MLP {
  /** Linear layers. */
  readonly layers: Linear[];
  /** Norms after each hidden activation. */
  readonly norms: LayerNorm[];

  /** `dims` = [input, hidden..., output]. */
  constructor(ctx: LayerContext, name: string, dims: readonly number[]) {
    this.layers = dims.slice(1).map((d, i) => new Linear(ctx, `${name}.layers.${i}`, dims[i], d));
    this.norms = dims.slice(1, -1).map((d, i) => new LayerNorm(ctx, `${name}.norms.${i}`, d));
  }

  /** Applies the MLP to the last axis. */
  forward(tape: Tape, x: Tensor): Tensor {
    let h = x;
    this.layers.forEach((l, i) => {
      h = l.forward(tape, h);
      if (i < this.norms.length) h = this.norms[i].forward(tape, ops.silu(tape, h));
    });
    return h;
  }
}

/**
 * The CFM pre-training task (see the module documentation).
 *
 * @example
 * ```ts ignore
 * const cfm = new CFMTask(store, rng, 32, 7, { seed: 42 });
 * ```
 */
export class CFMTask implements PretrainTask {
  readonly name = "cfm";
  readonly label = "CFM";
  readonly weight: number;
  /** Midpoint steps of the validation sampler. */
  readonly sampleSteps: number;
  /** Context projection (decoder width -> 128). */
  readonly context: Linear;
  /** Velocity network (trained). */
  readonly net: MLP;
  /** Its exponential moving average (sampling). */
  readonly ema: MLP;
  /** Feature count. */
  readonly features: number;
  readonly #store: ParameterStore;
  readonly #seed: number;
  readonly #decay: number;

  /** Registers `tasks.cfm.*` (network in group `cfm`, its EMA in the frozen group `cfm_ema`). */
  constructor(
    store: ParameterStore,
    rng: InitRng,
    dim: number,
    features: number,
    o: { seed: number; weight?: number; decay?: number; hidden?: number; sampleSteps?: number },
  ) {
    this.weight = o.weight ?? 1;
    this.sampleSteps = o.sampleSteps ?? 49;
    this.features = features;
    this.#store = store;
    this.#seed = o.seed;
    this.#decay = o.decay ?? 0.999;
    const h = o.hidden ?? 128, ctx = 128;
    this.context = new Linear({ store, rng }, "tasks.cfm.context", dim, ctx);
    const dims = [features + TIME_FEATURES + ctx, h, h, h, features];
    // Identical initial values for the network and its EMA: the same seeded generator.
    this.net = new MLP(
      { store, rng: new InitRng(o.seed + 17), group: "cfm" },
      "tasks.cfm.net",
      dims,
    );
    this.ema = new MLP(
      { store, rng: new InitRng(o.seed + 17), group: "cfm_ema" },
      "tasks.cfm.ema",
      dims,
    );
    store.group("cfm_ema").frozen = true;
  }

  loss(tape: Tape, pass: MPMPassOutput, inp: StepInputs): Tensor {
    const dropped = droppedFeatures(pass, this.name);
    const F = this.features, M = Math.max(inp.M, 1), gpu = dropped.gpu;
    const t = new Float32Array(M),
      xin = new Float32Array(M * (F + TIME_FEATURES)),
      v = new Float32Array(M * F);
    // Times and noise drawn per jet (its own stream, its dropped particles in order), so a jet
    // draws the same whatever batch, or data-parallel share, it sits in.
    for (let b = 0, m = 0; b < inp.B; b++) {
      const r = new Rng(this.#seed ^ 0x63666d, inp.streamIndex + b);
      for (let j = 0; j < inp.dropCount[b]; j++, m++) {
        t[m] = 1 / (1 + Math.exp(-r.n()));
        for (let f = 0; f < F; f++) {
          const x0 = inp.xDropHost[m * F + f], x1 = r.n();
          xin[m * (F + TIME_FEATURES) + f] = (1 - t[m]) * x0 + t[m] * x1;
          v[m * F + f] = x1 - x0;
        }
      }
    }
    const temb = cosineTimeEmbedding(t);
    for (let m = 0; m < M; m++) {
      xin.set(
        temb.subarray(m * TIME_FEATURES, (m + 1) * TIME_FEATURES),
        m * (F + TIME_FEATURES) + F,
      );
    }
    const X = tape.keep(gpu.upload(xin, [M, F + TIME_FEATURES])),
      V = tape.keep(gpu.upload(v, [M, F]));
    const ctx = this.context.forward(tape, dropped);
    const pred = this.net.forward(tape, ops.concat(tape, [X, ctx]));
    return ops.pointwiseLoss(tape, "mse", pred, V, { valid: droppedValid(tape, inp) });
  }

  /** EMA update of the whole network arena: ema += (1 - decay) (net - ema). */
  afterStep(): void {
    const net = this.#store.group("cfm").arena("values"),
      ema = this.#store.group("cfm_ema").arena("values");
    const d = axpby(net, ema, { alpha: 1 - this.#decay, beta: -(1 - this.#decay) });
    accumulate(ema, d);
    d.dispose();
  }

  /**
   * Generates features (M, F) for dropped particles with decoder features `dropped` (M, D):
   * midpoint steps from noise at t = 1 to t = 0 with the EMA network.
   */
  async sample(
    tape: Tape,
    dropped: Tensor,
    o: { steps?: number; seed?: number } = {},
  ): Promise<Float32Array> {
    const F = this.features, M = dropped.shape[0], gpu = dropped.gpu, steps = o.steps ?? 49;
    const r = new Rng((o.seed ?? 0) ^ 0x73616d70, 0);
    let x = tape.keep(gpu.upload(Float32Array.from({ length: M * F }, () => r.n()), [M, F]));
    const ctx = this.context.forward(tape, dropped);
    const vel = (xt: Tensor, t: number) => {
      const temb = tape.keep(
        gpu.upload(cosineTimeEmbedding(new Float32Array(M).fill(t)), [M, TIME_FEATURES]),
      );
      return this.ema.forward(tape, ops.concat(tape, [xt, temb, ctx]));
    };
    const dt = -1 / steps;
    for (let i = 0; i < steps; i++) {
      const t = 1 + i * dt;
      const k1 = vel(x, t);
      const mid = tape.keep(axpby(x, k1, { alpha: 1, beta: dt / 2 }));
      const k2 = vel(mid, t + dt / 2);
      x = tape.keep(axpby(x, k2, { alpha: 1, beta: dt }));
    }
    return await x.read() as Float32Array;
  }

  /** Validation samples of the dropped particles (the run's seed, `sampleSteps` steps). */
  sampleDropped(tape: Tape, pass: MPMPassOutput): Promise<Float32Array> {
    return this.sample(tape, droppedFeatures(pass, this.name), {
      steps: this.sampleSteps,
      seed: this.#seed,
    });
  }
}

/** `--tasks cfm`. */
export const CFM_TASK: PretrainTaskDef = defineTask<{ weight: number; sampleSteps?: number }>({
  name: "cfm",
  summary: "conditional flow matching of the dropped particles' features (MSE on the velocity)",
  objectives: ["mae", "bert"],
  defaults: () => ({ weight: 1 }),
  build: (ctx, s) =>
    new CFMTask(ctx.store, ctx.rng, ctx.model.headDim, ctx.config.features.length, {
      seed: ctx.config.train.seed,
      weight: s.weight,
      sampleSteps: s.sampleSteps,
    }),
});
