/**
 * Pre-training task heads: each maps the decoder features of the dropped particles to a loss.
 * A run combines several with weights (`L = sum_t w_t L_t`).
 *
 * @module
 */
import * as ops from "../autograd/ops.ts";
import type { ParameterStore } from "../autograd/parameters.ts";
import type { Tape } from "../autograd/tape.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { InitRng } from "../nn/init.ts";
import { Linear } from "../nn/layers.ts";
import type { MPMInputs } from "./prepare.ts";
import type { MPMPassOutput } from "./model.ts";

/** A pre-training task. */
export interface PretrainTask {
  /** Short name (`id`, `reg`, ...), used in logs. */
  readonly name: string;
  /** Loss weight. */
  readonly weight: number;
  /**
   * The task's mean loss (1 element) from the dropped-particle features (M, D); `pass` is the
   * whole model output (set-to-set flow matching reads the encoder outputs there).
   */
  loss(tape: Tape, dropped: Tensor, inp: MPMInputs, pass?: MPMPassOutput): Tensor;
  /** Called after each optimiser step (e.g. an EMA update). */
  afterStep?(): void;
}

/** Validity of the M dropped rows (all valid; one dummy invalid row when M = 0). */
function droppedValid(tape: Tape, inp: MPMInputs): Tensor | undefined {
  return inp.M > 0 ? undefined : tape.keep(inp.xDrop.gpu.upload(new Uint32Array([0])));
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

  loss(tape: Tape, dropped: Tensor, inp: MPMInputs): Tensor {
    return ops.crossEntropy(tape, this.head.forward(tape, dropped), inp.idsDrop, {
      labelSmoothing: 0.1,
      valid: droppedValid(tape, inp),
    });
  }
}

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

  loss(tape: Tape, dropped: Tensor, inp: MPMInputs): Tensor {
    return ops.pointwiseLoss(tape, "l1", this.head.forward(tape, dropped), inp.xDrop, {
      valid: droppedValid(tape, inp),
    });
  }
}

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
