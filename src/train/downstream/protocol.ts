/**
 * The reference's fine-tuning protocol (mattcleigh/jetssl), as rules of the task, the number of
 * labelled jets and how the backbone is used, so that every downstream run and every study gets
 * the same schedule without the user restating it.
 *
 * The `reference` preset is the literal large-data schedule: 200k steps for jet classification
 * (warm-up 10k), 100k for vertexing and track identification (warm-up 5k), CWoLa 10 epochs with
 * no early stopping; the backbone unfreezes at U = 5000 and catches up over C = 5000 steps
 * (U = 100 for at most 1000 labelled jets, U = C = 20k and warm-up 40k from 10M); patience 5
 * below 10k jets, 25 at 10k, 10 up to 1M, 5 above (vertexing and tracks: 25). The `budget`
 * preset (the default) keeps every rule and scales the step counts to the steps the user can
 * afford. Both give `scratch` (the same network from random initialisation, trained end to end
 * from the first step) the reference's baseline settings: U = 0, C = 1 and learning rate 1e-3.
 *
 * @module
 */

/** How the backbone is used: kept frozen, fine-tuned after unfreezing, or trained from scratch. */
export type BackboneMode = "frozen" | "finetuned" | "scratch";

/** `reference`: the literal schedule of the paper; `budget`: the same rules in fewer steps. */
export type ProtocolPreset = "budget" | "reference";

/** The protocol's names, for `--protocol`. */
export const PROTOCOL_PRESETS: readonly ProtocolPreset[] = ["budget", "reference"];

/** The schedule a downstream run follows. */
export interface Protocol {
  /** Optimiser steps. */
  steps: number;
  /** Linear warm-up steps of the head's learning rate (from 0.1x). */
  warmup: number;
  /** Step at which the backbone unfreezes (`Infinity`: never). */
  unfreezeAt: number;
  /** Steps over which the backbone's learning rate rises to the head's. */
  catchup: number;
  /** Steps between validations. */
  valEvery: number;
  /** Validations without improvement before stopping (`Infinity`: no early stopping). */
  patience: number;
  /** Head learning rate. */
  lr: number;
  /** Keep the best validation weights (`false`: the last ones, CWoLa). */
  keepBest: boolean;
}

/** What the protocol depends on. */
export interface ProtocolInput {
  /** Downstream task name. */
  task: string;
  /** How the backbone is used. */
  mode: BackboneMode;
  /** Labelled training jets (CWoLa: jets in both mixed samples). */
  nTrain: number;
  /** Jets per batch. */
  batch: number;
  /** Preset (default `budget`). */
  preset?: ProtocolPreset;
  /** `budget`: the steps to scale the schedule to (default 1000; CWoLa: 10 epochs). */
  steps?: number;
}

const PARTICLE_TASKS = new Set(["vertex", "trackid"]);

/** The reference's patience rule for classification by labelled-set size. */
function jetPatience(n: number): number {
  return n < 1e4 ? 5 : n <= 1e4 ? 25 : n <= 1e6 ? 10 : 5;
}

/**
 * The protocol of one downstream run.
 *
 * @param i the task, backbone mode, labelled jets, batch and preset
 * @returns steps, warm-up, unfreeze step and catch-up, validation cadence, patience, learning
 *   rate and which weights are kept
 * @throws {RangeError} for a non-positive jet count, batch or step budget
 * @example
 * ```ts
 * import { downstreamProtocol } from "@mpm/webgpu/train";
 * const ref = downstreamProtocol({ task: "classify", mode: "finetuned", nTrain: 1e5, batch: 500, preset: "reference" });
 * console.assert(ref.steps === 200_001 && ref.warmup === 10_000 && ref.unfreezeAt === 5000 && ref.patience === 10);
 * const small = downstreamProtocol({ task: "classify", mode: "finetuned", nTrain: 300, batch: 32, steps: 1000 });
 * console.assert(small.warmup === 50 && small.unfreezeAt === 1 && small.catchup === 25);
 * const scratch = downstreamProtocol({ task: "classify", mode: "scratch", nTrain: 300, batch: 32 });
 * console.assert(scratch.unfreezeAt === 0 && scratch.lr === 1e-3);
 * ```
 */
export function downstreamProtocol(i: ProtocolInput): Protocol {
  const preset = i.preset ?? "budget";
  if (!(i.nTrain >= 1) || !(Number.isInteger(i.batch) && i.batch >= 1)) {
    throw new RangeError(`protocol: nTrain ${i.nTrain} and batch ${i.batch} must be >= 1`);
  }
  if (i.steps !== undefined && !(Number.isInteger(i.steps) && i.steps >= 1)) {
    throw new RangeError(`protocol: steps ${i.steps} is not an integer >= 1`);
  }
  if (!PROTOCOL_PRESETS.includes(preset)) {
    throw new RangeError(`protocol: unknown preset '${preset}' (one of ${PROTOCOL_PRESETS})`);
  }
  const n = i.nTrain, epoch = Math.max(1, Math.ceil(n / i.batch));
  const cwola = i.task === "cwola", particle = PARTICLE_TASKS.has(i.task);
  const huge = n >= 1e7;
  // The reference's numbers.
  const ref = {
    steps: cwola ? 10 * epoch : particle ? 100_000 : 200_001,
    warmup: huge ? 40_000 : cwola || particle ? 5000 : 10_000,
    unfreezeAt: huge ? 20_000 : n <= 1e3 ? 100 : 5000,
    catchup: huge ? 20_000 : 5000,
    valEvery: cwola ? 10 * epoch : particle ? epoch : n < 1e4 ? 10 * epoch : 20_000,
    patience: cwola ? Infinity : particle ? 25 : jetPatience(n),
  };
  let p: Protocol = {
    ...ref,
    lr: i.mode === "scratch" ? 1e-3 : 1e-4,
    keepBest: !cwola,
  };
  if (preset === "budget") {
    const steps = i.steps ?? (cwola ? ref.steps : 1000);
    // CWoLa keeps its fixed schedule in epochs; the rest scale with the budget.
    const f = steps / (cwola ? ref.steps : particle ? 100_000 : 200_000);
    const scale = (v: number, min: number) => Math.max(min, Math.round(v * f));
    p = {
      ...p,
      steps,
      warmup: Math.min(scale(ref.warmup, 1), Math.floor(steps / 2)),
      unfreezeAt: scale(ref.unfreezeAt, 1),
      catchup: scale(ref.catchup, 1),
      valEvery: cwola ? steps : Math.min(50, steps),
      patience: ref.patience,
    };
  }
  if (i.mode === "frozen") p.unfreezeAt = Infinity;
  if (i.mode === "scratch") {
    p.unfreezeAt = 0;
    p.catchup = 1;
  }
  return p;
}
