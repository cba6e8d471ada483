/**
 * Conditional normalising flow (CNF) for the dropped particles, as the reference's `FlowTask`:
 *
 * - context c = Linear(D -> 128)(decoder output);
 * - 6 rational-quadratic-spline coupling layers over the F continuous features (8 bins, linear
 *   tails at ±4, minimum bin width/height/derivative 1e-3); layer l passes features with
 *   (f + l) even through an unconditional learned spline and transforms the others with a spline
 *   whose parameters come from a conditioner MLP fed the pass-through features and c (c is also
 *   concatenated into every hidden block; 2 blocks of width 64, SiLU);
 * - identity initialisation (conditioner output weights and biases and the unconditional
 *   parameters are zero, which the knot parameterisation maps to the identity);
 * - standard normal base; loss = -mean log p(x | c) per dropped particle, with N(0, 0.05²) noise
 *   added to the impact-parameter features first (de-discretisation, as the reference).
 *
 * Differences from the reference: no 1/√64 scaling of the width/height logits (it only changes
 * the conditioner's effective learning rate at zero-initialised outputs).
 *
 * @module
 */
import * as ops from "../autograd/ops.ts";
import type { Parameter, ParameterStore } from "../autograd/parameters.ts";
import type { Tape } from "../autograd/tape.ts";
import { Rng } from "../data/rng.ts";
import type { Gpu } from "../gpu/gpu.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { mulBroadcast } from "../kernels/elementwise.ts";
import { splineInverse, splineKnots, type SplineShape } from "../kernels/spline.ts";
import type { InitRng } from "../nn/init.ts";
import { type LayerContext, Linear } from "../nn/layers.ts";
import type { StepInputs } from "./prepare.ts";
import { droppedFeatures, type MPMPassOutput } from "./model.ts";
import { defineTask, droppedValid, type PretrainTask, type PretrainTaskDef } from "./tasks.ts";

/** Settings of a {@linkcode CouplingFlow}. */
export interface CouplingFlowOptions {
  /** Coupling layers. Default 6. */
  layers?: number;
  /** Spline bins. Default 8. */
  bins?: number;
  /** Tail bound. Default 4. */
  bound?: number;
  /** Conditioner width. Default 64. */
  hidden?: number;
}

/** One coupling layer's conditioner: [x_pass, c] -> h -> h -> raw spline parameters. */
class _Conditioner {
  readonly l1: Linear;
  readonly l2: Linear;
  readonly out: Linear;

  constructor(
    ctx: LayerContext,
    name: string,
    inDim: number,
    ctxDim: number,
    h: number,
    p: number,
  ) {
    this.l1 = new Linear(ctx, `${name}.l1`, inDim + ctxDim, h);
    this.l2 = new Linear(ctx, `${name}.l2`, h + ctxDim, h);
    this.out = new Linear(ctx, `${name}.out`, h + ctxDim, p, {
      weightInit: new Float32Array(p * (h + ctxDim)),
      biasInit: new Float32Array(p),
    });
  }

  forward(tape: Tape, x: Tensor, c: Tensor): Tensor {
    const h1 = ops.silu(tape, this.l1.forward(tape, ops.concat(tape, [x, c])));
    const h2 = ops.silu(tape, this.l2.forward(tape, ops.concat(tape, [h1, c])));
    return this.out.forward(tape, ops.concat(tape, [h2, c]));
  }
}

/**
 * A stack of conditional rational-quadratic-spline coupling layers with alternating masks
 * (x -> z is the density direction; {@linkcode CouplingFlow.sample} inverts it).
 *
 * @example
 * ```ts ignore
 * const flow = new CouplingFlow({ store, rng }, "tasks.cnf.flow", 7, 128);
 * const { z, logdet } = flow.forward(tape, x, context);
 * ```
 */
export class CouplingFlow {
  /** Feature count F. */
  readonly features: number;
  /** The spline shape. */
  readonly spline: SplineShape;
  readonly #cond: _Conditioner[];
  readonly #uncond: Parameter[];
  readonly #masks: Float32Array[] = [];
  readonly #maskCache: { pass: Tensor; transformed: Tensor }[] = [];

  /** Registers `<name>.layers.<l>.{l1,l2,out,uncond}`. */
  constructor(
    ctx: LayerContext,
    name: string,
    features: number,
    contextDim: number,
    o: CouplingFlowOptions = {},
  ) {
    this.features = features;
    const L = o.layers ?? 6, K = o.bins ?? 8, h = o.hidden ?? 64;
    this.spline = { bins: K, bound: o.bound ?? 4 };
    const P = features * (3 * K - 1);
    this.#cond = [];
    this.#uncond = [];
    for (let l = 0; l < L; l++) {
      this.#cond.push(new _Conditioner(ctx, `${name}.layers.${l}`, features, contextDim, h, P));
      this.#uncond.push(
        ctx.store.create(`${name}.layers.${l}.uncond`, [P], new Float32Array(P), ctx.group),
      );
      this.#masks.push(
        Float32Array.from({ length: features }, (_, f) => ((f + l) % 2 === 0 ? 1 : 0)),
      );
    }
  }

  /** Number of coupling layers. */
  get layers(): number {
    return this.#cond.length;
  }

  /** The pass-through mask of layer l (1 = passed to the conditioner). */
  passMask(l: number): Float32Array {
    return this.#masks[l];
  }

  /** Raw spline parameters (M * F, 3K - 1) of layer l given its input x (M, F). */
  #raw(tape: Tape, l: number, x: Tensor, c: Tensor): Tensor {
    const F = this.features, K = this.spline.bins, M = x.size / F;
    const { pass, transformed } = this.#maskTensors(x.gpu, l);
    const cond = this.#cond[l].forward(tape, ops.scaleColumns(tape, x, pass), c);
    const raw = ops.addRow(
      tape,
      ops.scaleColumns(tape, cond, transformed),
      tape.param(this.#uncond[l]),
    );
    return ops.reshape(tape, raw, [M * F, 3 * K - 1]);
  }

  /** Layer l's column masks as (cached, persistent) tensors: pass-through (F), transformed (F (3K-1)). */
  #maskTensors(gpu: Gpu, l: number): { pass: Tensor; transformed: Tensor } {
    if (!this.#maskCache[l] || this.#maskCache[l].pass.gpu !== gpu) {
      const P = 3 * this.spline.bins - 1, m = this.#masks[l];
      this.#maskCache[l] = {
        pass: gpu.upload(m),
        transformed: gpu.upload(
          Float32Array.from({ length: this.features * P }, (_, j) => 1 - m[Math.floor(j / P)]),
        ),
      };
    }
    return this.#maskCache[l];
  }

  /** z = f(x | c) and the summed log|det| per entry (M, F); differentiable. */
  forward(tape: Tape, x: Tensor, c: Tensor): { z: Tensor; logdet: Tensor } {
    let h = x, ld: Tensor | undefined;
    for (let l = 0; l < this.layers; l++) {
      const raw = this.#raw(tape, l, h, c);
      const r = ops.rqSpline(tape, h, raw, this.spline);
      h = r.y;
      ld = ld ? ops.add(tape, ld, r.logdet) : r.logdet;
    }
    return { z: h, logdet: ld! };
  }

  /**
   * x = f⁻¹(z | c) for base samples z (M, F): layers in reverse, each inverted in two passes
   * (the pass-through half first, then the conditioned half from it). Not differentiable.
   */
  inverse(tape: Tape, z: Tensor, c: Tensor): Tensor {
    let y = z;
    for (let l = this.layers - 1; l >= 0; l--) {
      const first = tape.keep(
        splineInverse(
          y,
          tape.keep(splineKnots(this.#raw(tape, l, y, c), this.spline)),
          this.spline.bins,
        ).x,
      );
      const pass = tape.keep(mulBroadcast(first, this.#maskTensors(y.gpu, l).pass));
      const knots = tape.keep(splineKnots(this.#raw(tape, l, pass, c), this.spline));
      y = tape.keep(splineInverse(y, knots, this.spline.bins).x);
    }
    return y;
  }
}

/** Standard-normal noise scale added to the impact-parameter features before the flow loss. */
export const IMPACT_NOISE = 0.05;
const IMPACT_FEATURES = new Set(["d0", "d0err", "dz", "dzerr"]);

/**
 * The CNF pre-training task (see the module documentation).
 *
 * @example
 * ```ts ignore
 * const cnf = new CNFTask(store, rng, 32, ["pt", "deta", "dphi"], { seed: 1 });
 * ```
 */
export class CNFTask implements PretrainTask {
  readonly name = "cnf";
  readonly label = "CNF";
  readonly weight: number;
  /** Context projection (decoder width -> 128). */
  readonly context: Linear;
  /** The flow. */
  readonly flow: CouplingFlow;
  readonly #seed: number;
  readonly #noisy: boolean[];
  /** The NLL's constant F log √(2π), uploaded once. */
  #constant?: Tensor;

  /** Registers `tasks.cnf.*`. */
  constructor(
    store: ParameterStore,
    rng: InitRng,
    dim: number,
    features: readonly string[],
    o: { seed: number; weight?: number } & CouplingFlowOptions,
  ) {
    this.weight = o.weight ?? 1;
    this.#seed = o.seed;
    this.#noisy = features.map((f) => IMPACT_FEATURES.has(f));
    this.context = new Linear({ store, rng }, "tasks.cnf.context", dim, 128);
    this.flow = new CouplingFlow({ store, rng }, "tasks.cnf.flow", features.length, 128, o);
  }

  /** -mean log p(x | c) over the dropped particles (nats per particle). */
  loss(tape: Tape, pass: MPMPassOutput, inp: StepInputs): Tensor {
    const dropped = droppedFeatures(pass, this.name);
    const F = this.flow.features, M = Math.max(inp.M, 1), gpu = dropped.gpu;
    const x = new Float32Array(M * F);
    if (inp.M > 0) x.set(inp.xDropHost.subarray(0, M * F));
    // Dequantisation noise drawn per jet (its own stream, its dropped particles in order), so a
    // jet draws the same whatever batch, or data-parallel share, it sits in.
    for (let b = 0, i = 0; b < inp.B; b++) {
      const r = new Rng(this.#seed ^ 0x636e66, inp.streamIndex + b);
      for (const end = i + inp.dropCount[b] * F; i < end; i++) {
        if (this.#noisy[i % F]) x[i] += IMPACT_NOISE * r.n();
      }
    }
    const X = tape.keep(gpu.upload(x, [M, F]));
    const { z, logdet } = this.flow.forward(tape, X, this.context.forward(tape, dropped));
    const valid = droppedValid(tape, inp);
    // -log p = sum_f (z_f² / 2 + log √(2π) - logdet_f) = F (mean(z²)/2 - mean(logdet)) + const.
    const zz = ops.pointwiseLoss(tape, "mse", z, tape.keep(gpu.zeros([M, F])), { valid });
    if (inp.M === 0) return ops.weightedSum(tape, [[zz, 0]]);
    const nll = ops.weightedSum(tape, [[zz, F / 2], [ops.meanAll(tape, logdet), -F]]);
    this.#constant ??= gpu.upload(new Float32Array([F * LOG_SQRT_2PI]));
    return ops.addRow(tape, nll, this.#constant);
  }

  /**
   * Draws features (M, F) for dropped particles with decoder features `dropped` (M, D), in the
   * normalised feature space.
   */
  async sample(tape: Tape, dropped: Tensor, o: { seed?: number } = {}): Promise<Float32Array> {
    const F = this.flow.features, M = dropped.shape[0], gpu = dropped.gpu;
    const r = new Rng((o.seed ?? 0) ^ 0x636e6673, 0);
    const z = tape.keep(gpu.upload(Float32Array.from({ length: M * F }, () => r.n()), [M, F]));
    const x = this.flow.inverse(tape, z, this.context.forward(tape, dropped));
    return await x.read() as Float32Array;
  }

  /** Validation samples of the dropped particles (the run's seed). */
  sampleDropped(tape: Tape, pass: MPMPassOutput): Promise<Float32Array> {
    return this.sample(tape, droppedFeatures(pass, this.name), { seed: this.#seed });
  }
}

/** `--tasks cnf`. */
export const CNF_TASK: PretrainTaskDef = defineTask<{ weight: number; finalNorm?: boolean }>({
  name: "cnf",
  summary: "conditional normalising flow (RQ-spline couplings) of the dropped particles (NLL)",
  objectives: ["mae", "bert"],
  // As the reference: the flow conditions on normalised encoder outputs (`finalNorm: false` in
  // tasks.cnf keeps the encoder as configured).
  defaults: () => ({ weight: 1, finalNorm: true }),
  encoder: (s) => (s.finalNorm === false ? {} : { finalNorm: true }),
  build: (ctx, s) =>
    new CNFTask(ctx.store, ctx.rng, ctx.model.headDim, ctx.config.features, {
      seed: ctx.config.train.seed,
      weight: s.weight,
    }),
});

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
