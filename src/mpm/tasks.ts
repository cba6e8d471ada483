/**
 * Pre-training tasks. Each task owns its knowledge (as the reference's `TaskBase`): its loss and
 * weight, optional hooks after each optimiser step and for generating the dropped particles at
 * validation, and a definition ({@linkcode PretrainTaskDef}) with its name, defaults, the
 * objectives it runs with, what it needs, and how to build it. The registry
 * (`src/mpm/registry.ts`) lists the definitions; a run combines tasks with weights
 * (`L = sum_t w_t L_t`).
 *
 * @module
 */
import * as ops from "../autograd/ops.ts";
import type { ParameterStore } from "../autograd/parameters.ts";
import type { Tape } from "../autograd/tape.ts";
import type { Masking } from "../data/masking.ts";
import type { JetBatch } from "../data/loader.ts";
import type { Preprocessor } from "../data/preprocess.ts";
import type { Gpu } from "../gpu/gpu.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { InitRng } from "../nn/init.ts";
import { Linear } from "../nn/layers.ts";
import type { MPMConfig, TaskSettings } from "./config.ts";
import type { StepInputs } from "./prepare.ts";
import { droppedFeatures, type MPMModel, type MPMPassOutput } from "./model.ts";

/** A pre-training task, built for one run. */
export interface PretrainTask {
  /** Short name (`id`, `reg`, ...), used in logs and metrics columns. */
  readonly name: string;
  /** Loss weight. */
  readonly weight: number;
  /** Name in reports (`CFM`); generative tasks set it. */
  readonly label?: string;
  /** The task's mean loss (1 element) for a pass on prepared inputs. */
  loss(tape: Tape, pass: MPMPassOutput, inp: StepInputs): Tensor;
  /** Called after each optimiser step (e.g. an EMA update). */
  afterStep?(): void;
  /**
   * Generative tasks: samples of the dropped particles' normalised features, (M, F) in the order
   * of `inp.xDropHost`, compared with the truth at validation (plots and a jet-completion report).
   */
  sampleDropped?(tape: Tape, pass: MPMPassOutput, inp: StepInputs): Promise<Float32Array>;
}

/** What a task definition gets to build its task. */
export interface TaskBuildContext {
  /** Device. */
  gpu: Gpu;
  /** The run's parameter store (not yet finalised). */
  store: ParameterStore;
  /** Initialisation stream shared by the heads. */
  rng: InitRng;
  /** The model (its `headDim` is the width of the features heads read). */
  model: MPMModel;
  /** The run's configuration. */
  config: MPMConfig;
  /** The run's feature preprocessing. */
  preprocessor: Preprocessor;
}

/** How a run masks a batch: which particles each jet drops, and their pT ranks. */
export type MaskingFn = (batch: JetBatch, seed: number) => Masking;

/** The definition of a pre-training task: everything the registry and the CLI ask about it. */
export interface PretrainTaskDef<S extends TaskSettings = TaskSettings> {
  /** Name in `--tasks` and in `config.tasks`. */
  readonly name: string;
  /** One line for `--help`. */
  readonly summary: string;
  /** Objectives it runs with (`mae`/`bert` have a mask-token decoder; `ssfm` does not). */
  readonly objectives: readonly MPMConfig["objective"][];
  /** Whether it needs particle types (`csts_id`); dropped on kinematics-only data. */
  readonly needsIds?: boolean;
  /** A file the task cannot run without: the settings key, the CLI flag, and how to make one. */
  readonly requires?: { key: keyof S & string; flag: string; how: string };
  /** Settings when `--tasks` enables it and the config has none. */
  defaults(): S;
  /**
   * The objective this task brings along: `--tasks ssfm` switches the config to it (and the task
   * combines only with the probe).
   */
  readonly ownsObjective?: MPMConfig["objective"];
  /**
   * What the task requires of the encoder, applied by `selectTasks` (the reference's CNF forces
   * the encoder's final LayerNorm).
   */
  encoder?(settings: S): { finalNorm?: boolean };
  /** The masking of runs where this task owns the objective. */
  masking?(settings: S, config: MPMConfig): MaskingFn;
  /** Builds the task (its parameters go into `ctx.store`). */
  build(ctx: TaskBuildContext, settings: S): PretrainTask | Promise<PretrainTask>;
}

/**
 * A typed definition (the generic parameter ties `defaults`, `requires` and `build` together).
 *
 * @example
 * ```ts ignore
 * export const MY_TASK = defineTask<{ weight: number }>({
 *   name: "mine", summary: "...", objectives: ["mae"], defaults: () => ({ weight: 1 }),
 *   build: (ctx, s) => new MyTask(ctx.store, ctx.rng, ctx.model.headDim, s.weight),
 * });
 * ```
 */
export function defineTask<S extends TaskSettings>(def: PretrainTaskDef<S>): PretrainTaskDef {
  return def as unknown as PretrainTaskDef;
}

/** Validity of the M dropped rows (all valid; one dummy invalid row when M = 0). */
export function droppedValid(tape: Tape, inp: StepInputs): Tensor | undefined {
  return inp.M > 0 ? undefined : tape.keep(tape.gpu.upload(new Uint32Array([0])));
}

/**
 * Particle-type classification: Linear(D -> 8), cross-entropy with label smoothing 0.1
 * (reference weight 0.3).
 *
 * @example
 * ```ts ignore
 * const task = new IdTask(store, rng, 32, 0.3);
 * ```
 */
export class IdTask implements PretrainTask {
  readonly name = "id";
  readonly weight: number;
  /** The head. */
  readonly head: Linear;

  /** Registers `tasks.id.head.*`. */
  constructor(store: ParameterStore, rng: InitRng, dim: number, weight = 0.3) {
    this.weight = weight;
    this.head = new Linear({ store, rng }, "tasks.id.head", dim, 8);
  }

  loss(tape: Tape, pass: MPMPassOutput, inp: StepInputs): Tensor {
    const logits = this.head.forward(tape, droppedFeatures(pass, this.name));
    return ops.crossEntropy(tape, logits, inp.idsDrop, {
      labelSmoothing: 0.1,
      valid: droppedValid(tape, inp),
    });
  }
}

/** `--tasks id`. */
export const ID_TASK: PretrainTaskDef = defineTask<{ weight: number }>({
  name: "id",
  summary: "particle-type classification of the dropped particles (CE, smoothing 0.1)",
  objectives: ["mae", "bert"],
  needsIds: true,
  defaults: () => ({ weight: 0.3 }),
  build: (ctx, s) => new IdTask(ctx.store, ctx.rng, ctx.model.headDim, s.weight),
});

/**
 * Direct regression of the (normalised) continuous features: Linear(D -> F), L1.
 *
 * @example
 * ```ts ignore
 * const task = new RegTask(store, rng, 32, 7);
 * ```
 */
export class RegTask implements PretrainTask {
  readonly name = "reg";
  readonly weight: number;
  /** The head. */
  readonly head: Linear;

  /** Registers `tasks.reg.head.*`. */
  constructor(store: ParameterStore, rng: InitRng, dim: number, features: number, weight = 1) {
    this.weight = weight;
    this.head = new Linear({ store, rng }, "tasks.reg.head", dim, features);
  }

  loss(tape: Tape, pass: MPMPassOutput, inp: StepInputs): Tensor {
    const pred = this.head.forward(tape, droppedFeatures(pass, this.name));
    return ops.pointwiseLoss(tape, "l1", pred, inp.xDrop, { valid: droppedValid(tape, inp) });
  }
}

/** `--tasks reg`. */
export const REG_TASK: PretrainTaskDef = defineTask<{ weight: number }>({
  name: "reg",
  summary: "direct regression of the dropped particles' features (L1)",
  objectives: ["mae", "bert"],
  defaults: () => ({ weight: 1 }),
  build: (ctx, s) =>
    new RegTask(ctx.store, ctx.rng, ctx.model.headDim, ctx.config.features.length, s.weight),
});

/**
 * Linear probe on the detached encoder: masked mean over registers and particles of the
 * encoder output on full (unmasked) jets, then Linear(encoder dim -> classes), cross-entropy.
 * Monitoring only: gradients reach only the probe.
 *
 * @example
 * ```ts ignore
 * const probe = new LinearProbe(store, rng, 64, 10);
 * ```
 */
export class LinearProbe {
  /** The head. */
  readonly head: Linear;

  /** Registers `probe.head.*` (group `probe`). */
  constructor(store: ParameterStore, rng: InitRng, dim: number, classes: number) {
    this.head = new Linear({ store, rng, group: "probe" }, "probe.head", dim, classes);
  }

  /** Logits (B, classes) and the mean CE loss, from encoder features treated as constants. */
  forward(
    tape: Tape,
    encoded: Tensor,
    valid: Tensor,
    labels: Tensor,
  ): { logits: Tensor; loss: Tensor } {
    const logits = this.head.forward(tape, ops.maskedMean(tape, encoded, valid));
    return { logits, loss: ops.crossEntropy(tape, logits, labels) };
  }
}
