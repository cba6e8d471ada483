/**
 * The interface every downstream task implements: what its head outputs, how it reads the
 * backbone's tokens and computes its loss, what it collects on the test set, its metrics, plots
 * and exported predictions. `finetune()` and the evaluation loop know nothing else about tasks.
 *
 * @module
 */
import * as ops from "../../autograd/ops.ts";
import type { ParameterStore } from "../../autograd/parameters.ts";
import type { Tape } from "../../autograd/tape.ts";
import type { JetBatch } from "../../data/loader.ts";
import type { Gpu } from "../../gpu/gpu.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import type { DropoutContext } from "../../heads/heads.ts";
import type { InitRng } from "../../nn/init.ts";
import type { Validity } from "../../nn/validity.ts";

/** Flat metrics written to `metrics.json`. */
export type Metrics = Record<string, number>;

/** What the task's head is built from. */
export interface HeadContext {
  /** Parameters (the head registers group `head`). */
  store: ParameterStore;
  /** Initialisation. */
  rng: InitRng;
  /** Backbone width. */
  dim: number;
  /** Outputs ({@linkcode DownstreamTask.outputs}). */
  outputs: number;
}

/** One forward pass of the head on a batch's backbone tokens. */
export interface ForwardContext {
  /** Device. */
  gpu: Gpu;
  /** The step's tape. */
  tape: Tape;
  /** The batch (trimmed for jet-level tasks). */
  batch: JetBatch;
  /** Backbone tokens (B, R + N, dim) and their validity. */
  encoded: { out: Tensor; valid: Validity };
  /** Encoder registers R (per-track heads drop those rows). */
  registers: number;
  /** Backbone width. */
  dim: number;
  /** Training (dropout, label noise) or evaluation. */
  train: boolean;
  /** Dropout of the head while training. */
  dropout?: DropoutContext;
  /** Optimiser step (seeds per-step noise). */
  step: number;
  /** Run seed. */
  seed: number;
}

/** The head's output on a batch. */
export interface ForwardResult {
  /** Raw outputs: jet logits (B, C), per-track logits (B * N, C) or per-pair logits (B, P). */
  logits: Tensor;
  /** Mean loss (1 element). */
  loss: Tensor;
  /**
   * What `loss` is a mean over in this batch when not its jets (e.g. the weight of its valid
   * tracks, or its valid pairs). Data parallelism weights each rank's gradients and logged
   * losses by it, so that N ranks follow one rank to rounding. Default: the batch's jets.
   */
  count?: number;
  /** Task-specific data the collector needs (e.g. the pair slots). */
  extra?: unknown;
}

/** Arrays a task exports to `predictions.h5`, beside the common ones (jet index, split). */
export interface PredictionArrays {
  /** Datasets: name, row shape, dtype and data (rows = test jets). */
  datasets: {
    name: string;
    rowShape: number[];
    dtype: "f32" | "i64" | "i8";
    data: ArrayLike<number>;
  }[];
  /** String attributes (e.g. what each logit column means). */
  attributes?: Record<string, string>;
}

/** Accumulates a test pass: batches in, metrics, plots and predictions out. */
export interface Collector {
  /** One evaluated batch and its logits (read back), with the forward's extra data. */
  add(batch: JetBatch, logits: Float32Array, extra: unknown): void;
  /** The task's metrics on everything added. */
  metrics(): Metrics;
  /** Writes the task's plots into `dir`. */
  plots(dir: string, metrics: Metrics): Promise<void>;
  /** What to export per test jet. */
  predictions(): PredictionArrays;
}

/** Data the task prepared for itself (CWoLa mixes its own samples). */
export interface PreparedData {
  /** Training files. */
  train: readonly string[];
  /** Validation files. */
  val: readonly string[];
  /** Test files. */
  test: readonly string[];
  /**
   * Whether the training files are split 80/10/10 (`split` in the loader): validation or test
   * jets are taken from them. A role given its own files reads those whole ({@linkcode splitPart}).
   */
  split: boolean;
  /** Jets used from the training files (undefined: all). */
  nTrain?: number;
  /** Per-file extra truth the collector needs (CWoLa: the true labels of the mixtures). */
  truth?: Map<string, Int32Array>;
}

/**
 * The part of the 80/10/10 split a role reads, or undefined when it reads its files whole: the
 * training files are split only when validation or test jets come from them, and a role given
 * its own files (`--val`, `--test`) reads all of them.
 *
 * @param data the prepared files
 * @param part the role
 * @returns the loader's `split` option for that role
 * @example
 * ```ts
 * import { splitPart } from "@mpm/webgpu/train";
 * const train = ["labelled.h5"];
 * const data = { train, val: train, test: ["fresh.h5"], split: true };
 * console.assert(splitPart(data, "val") === "val" && splitPart(data, "test") === undefined);
 * ```
 */
export function splitPart(
  data: Pick<PreparedData, "train" | "val" | "test" | "split">,
  part: "train" | "val" | "test",
): "train" | "val" | "test" | undefined {
  if (!data.split) return undefined;
  return part === "train" || data[part] === data.train ? part : undefined;
}

/** Options a task's data preparation reads. */
export interface PrepareOptions {
  /** Training files. */
  train: readonly string[];
  /** Validation files, when separate. */
  val?: readonly string[];
  /** Test files, when separate. */
  test?: readonly string[];
  /** Labelled jets for training. */
  nTrain?: number;
  /** Output folder (for files the task writes). */
  out: string;
  /** CWoLa: the classes and sample sizes. */
  cwola?: { signal: number; background: number; nBackground?: number };
}

/** A downstream task. */
export interface DownstreamTask {
  /** Name in `--task`. */
  readonly name: string;
  /** One line for `--help`. */
  readonly summary: string;
  /** The metric a data-efficiency study plots. */
  readonly metric: string;
  /** Jet-level tasks cut padding (cheaper attention); per-track tasks keep fixed slots. */
  readonly trims: boolean;
  /** Outputs of the head given the largest label in the training data. */
  outputs(maxLabel: number): number;
  /** Fails clearly when the data lacks what the task needs (e.g. `vtx_id`). */
  check(batch: JetBatch, file: string): void;
  /** Registers the head's parameters. */
  buildHead(ctx: HeadContext): unknown;
  /** Head forward and loss. */
  forward(head: unknown, ctx: ForwardContext): ForwardResult;
  /** A collector for one test pass. */
  collector(outputs: number, data: PreparedData, testFile: string): Collector;
  /** Prepares the task's own data (default: the files as given, 80/10/10 without val/test). */
  prepare?(o: PrepareOptions): Promise<PreparedData> | PreparedData;
}

/**
 * A typed task (the generic parameter ties `buildHead` and `forward` together).
 *
 * @example
 * ```ts ignore
 * export const MY_TASK = defineDownstream<MyHead>({ name: "mine", ... });
 * ```
 */
export function defineDownstream<H>(
  t: Omit<DownstreamTask, "buildHead" | "forward"> & {
    buildHead(ctx: HeadContext): H;
    forward(head: H, ctx: ForwardContext): ForwardResult;
  },
): DownstreamTask {
  return t as unknown as DownstreamTask;
}

/** The token rows of the real particle slots (drops the registers): (B, N, dim). */
export function particleTokens(ctx: ForwardContext): Tensor {
  const { tape, gpu, batch, registers: R, dim: D } = ctx, B = batch.size, N = batch.nParticles;
  const rows = new Int32Array(B * N), inv = new Int32Array(B * (R + N)).fill(-1);
  for (let j = 0; j < B; j++) {
    for (let n = 0; n < N; n++) {
      rows[j * N + n] = j * (R + N) + R + n;
      inv[j * (R + N) + R + n] = j * N + n;
    }
  }
  return ops.gatherRows(
    tape,
    ctx.encoded.out.reshape([B * (R + N), D]),
    tape.keep(gpu.upload(rows)),
    tape.keep(gpu.upload(inv)),
    [B, N, D],
  );
}
