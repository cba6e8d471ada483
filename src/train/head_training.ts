/**
 * The downstream training loop: the schedule and nothing else. The backbone group starts
 * frozen; at `unfreezeAt` it joins the optimiser with a learning rate that rises linearly from
 * ~0 (1e-8, as the reference's `CatchupToLR`) to the head's over `catchup` steps, then tracks it.
 * AdamW counts each group's bias correction from its first update. Every `valEvery` steps the
 * validation loss is measured; with `keepBest` the best weights end in the store and training
 * stops after `patience` validations without improvement, otherwise (CWoLa's fixed schedule)
 * the last weights are kept.
 *
 * @module
 */
import { tuneRun } from "./tuning.ts";
import type { ParameterStore } from "../autograd/parameters.ts";
import { Tape } from "../autograd/tape.ts";
import * as ops from "../autograd/ops.ts";
import type { JetBatch, JetLoader } from "../data/loader.ts";
import type { Gpu } from "../gpu/gpu.ts";
import { AdamW } from "../optim/adamw.ts";
import { warmupCosine } from "../optim/schedule.ts";
import type { ForwardResult } from "./downstream/task.ts";
import { batchRows, type DataParallel, type PendingExchange } from "./data_parallel.ts";

/** The head's forward and loss on a batch (evaluation: no dropout, no label noise). */
export type HeadForward = (
  tape: Tape,
  batch: JetBatch,
  step: number,
  train: boolean,
) => ForwardResult;

/** The schedule of {@linkcode trainHead}. */
export interface HeadSchedule {
  /** Optimiser steps (an upper bound with early stopping). */
  steps: number;
  /** Jets per batch (for the rate). */
  batch: number;
  /** Head learning rate. */
  lr: number;
  /** Warm-up steps (from 0.1x), then cosine to 1e-3 of `lr`. */
  warmup: number;
  /** Keep the backbone frozen throughout. */
  frozen: boolean;
  /** Step at which the backbone unfreezes. */
  unfreezeAt: number;
  /** Steps of the backbone's learning-rate catch-up. */
  catchup: number;
  /** Steps between validations. */
  valEvery: number;
  /** Validations without improvement before stopping (`Infinity`: never). */
  patience: number;
  /** Keep the best validation weights (else the last). */
  keepBest: boolean;
}

/** What {@linkcode trainHead} did. */
export interface HeadFit {
  /** Steps taken. */
  done: number;
  /** Best validation loss. */
  best: number;
  /** [step, train loss, validation loss] per validation. */
  rows: number[][];
}

/**
 * The backbone group's learning-rate factor at `step` (0: still frozen): 1e-8 relative at the
 * unfreezing step's start, rising linearly to 1 over `catchup` steps.
 *
 * @param s the schedule
 * @param step optimiser step (0-based)
 * @returns the factor on the head's learning rate, 0 while frozen
 * @example
 * ```ts
 * import { backboneLrScale } from "@mpm/webgpu/train";
 * const s = { frozen: false, unfreezeAt: 10, catchup: 4, lr: 1e-4 };
 * console.assert(backboneLrScale(s, 9) === 0 && backboneLrScale(s, 10) === 0.25);
 * console.assert(backboneLrScale(s, 13) === 1 && backboneLrScale(s, 100) === 1);
 * ```
 */
export function backboneLrScale(
  s: Pick<HeadSchedule, "frozen" | "unfreezeAt" | "catchup" | "lr">,
  step: number,
): number {
  if (s.frozen || step < s.unfreezeAt) return 0;
  const ramp = (step - s.unfreezeAt + 1) / Math.max(s.catchup, 1);
  return Math.max(1e-8 / s.lr, Math.min(1, ramp));
}

/**
 * Trains the head (and, once unfrozen, the backbone) of `store` on `trainLoader`.
 *
 * @param gpu device
 * @param s the schedule
 * @param store parameters, with groups `backbone` and `head`
 * @param forward the task's forward and loss
 * @param trainLoader looping training stream (closed at the end)
 * @param valLoader a fresh validation stream per validation
 * @param log progress lines
 * @param dp data parallelism: this rank trains on its share of every batch (a loader built
 *   with `share` delivers only that share) and the gradients are averaged over the ranks before
 *   each step
 * @returns steps done, best validation loss and the loss rows
 * @example
 * ```ts ignore
 * const fit = await trainHead(gpu, schedule, store, forward, loader, () => valLoader(), console.log);
 * ```
 */
export async function trainHead(
  gpu: Gpu,
  s: HeadSchedule,
  store: ParameterStore,
  forward: HeadForward,
  trainLoader: JetLoader,
  valLoader: () => JetLoader,
  log: (line: string) => void,
  dp?: DataParallel,
): Promise<HeadFit> {
  const backbone = store.group("backbone");
  backbone.frozen = true;
  const opt = new AdamW(store, {
    lr: s.lr,
    weightDecay: 1e-5,
    maxNorm: 1,
    schedule: warmupCosine({ warmup: s.warmup, total: s.steps, floor: 1e-3, initFactor: 0.1 }),
  });
  const lossBuf = gpu.zeros([Math.max(s.valEvery, 1)]);
  const counts = new Float64Array(Math.max(s.valEvery, 1)); // what each step's loss averages
  let best = Infinity, bestValues: Map<string, Float32Array> | null = null, bad = 0, done = 0;
  const rows: number[][] = [];
  const t0 = performance.now();
  let ahead: JetBatch | undefined, pending: PendingExchange | undefined;
  for (let step = 0; step < s.steps; step++) {
    const scale = backboneLrScale(s, step);
    if (scale > 0) {
      backbone.frozen = false;
      backbone.lrScale = scale;
    }
    store.zeroGrad();
    const tape = new Tape(gpu);
    const batch = ahead ?? trainLoader.next()!;
    ahead = undefined;
    const mine = dp && !batch.fullSize ? batchRows(batch, dp.share(batch.size)) : batch;
    const r = forward(tape, mine, step, true);
    // Data parallel: the loss is a mean over this rank's jets (or tracks, pairs); scaled by
    // their count, the exchange divides the summed gradients by the whole batch's count.
    const count = r.count ?? mine.size;
    counts[step % s.valEvery] = count;
    tape.backward(dp ? ops.weightedSum(tape, [[r.loss, count]]) : r.loss);
    // Data parallel: the next batch is loaded while the gradients are read back; on a step
    // without validation the allreduce stays pending while the optimiser step and the next
    // step are recorded, and ends before that step is submitted.
    if (dp) {
      await pending?.finish();
      pending = await dp.beginAverage(() => {
        if (step + 1 < s.steps) ahead = trainLoader.next()!;
      }, { weight: count });
    }
    opt.step();
    gpu.copy(r.loss, lossBuf.view([1], step % s.valEvery));
    tape.dispose();
    const quiet = step > 0 && (step + 1) % s.valEvery !== 0 && step + 1 !== s.steps;
    if (!quiet) await pending?.finish();
    if (!(quiet && pending)) gpu.submit();
    if (step === 0) await tuneRun(gpu, null, log);
    done = step + 1;
    if (done % s.valEvery !== 0 && done !== s.steps) continue;
    const tl = await lossBuf.read() as Float32Array;
    const k = (done - 1) % s.valEvery + 1;
    let trainLoss = tl.slice(0, k).reduce((a, v) => a + v, 0) / k;
    if (dp) {
      // Each rank measured its share: each step's loss is the ranks' weighted by their counts.
      const t = new Float64Array(2 * k);
      for (let i = 0; i < k; i++) [t[2 * i], t[2 * i + 1]] = [tl[i] * counts[i], counts[i]];
      dp.mpi.allreduceSum(t);
      trainLoss = 0;
      // (A step with nothing to average over anywhere, e.g. no valid pair, has loss 0.)
      for (let i = 0; i < k; i++) trainLoss += (t[2 * i + 1] ? t[2 * i] / t[2 * i + 1] : 0) / k;
    }
    const vl = await validationLoss(gpu, forward, valLoader(), dp);
    rows.push([done, trainLoss, vl]);
    const rate = (done * s.batch) / ((performance.now() - t0) / 1000);
    const eta = (s.steps - done) * (performance.now() - t0) / done / 1000;
    log(
      `step ${done}/${s.steps} | ${rate.toFixed(0)} jets/s | ETA ${eta.toFixed(0)} s | train ${
        trainLoss.toFixed(4)
      } | val ${vl.toFixed(4)}${vl < best ? " (best)" : ""}`,
    );
    if (!Number.isFinite(vl)) {
      throw new Error(`validation loss became ${vl} at step ${done}; lower the learning rate`);
    }
    if (vl < best) {
      best = vl;
      bad = 0;
      if (s.keepBest) bestValues = await store.read();
    } else if (++bad >= s.patience) {
      log(`early stop at step ${done}: no improvement for ${s.patience} validations`);
      break;
    }
  }
  trainLoader.close();
  lossBuf.dispose();
  if (bestValues) store.write(bestValues);
  if (dp) log(dp.summary(done));
  return { done, best, rows };
}

/**
 * Mean loss over a validation stream (data parallel: over every rank's share of it, when the
 * loader was built with `share`).
 */
async function validationLoss(
  gpu: Gpu,
  forward: HeadForward,
  l: JetLoader,
  dp?: DataParallel,
): Promise<number> {
  // Per batch: the loss times its count, the count, and the jets (data parallel: this rank's
  // part, added over the ranks so that each batch's loss is the whole batch's).
  const parts: number[] = [];
  for (let b = l.next(); b; b = l.next()) {
    if (b.size === 0) {
      parts.push(0, 0, 0); // a rank's share of a last batch shorter than the ranks
      continue;
    }
    const tape = new Tape(gpu);
    const r = forward(tape, b, 0, false);
    const count = r.count ?? b.size;
    parts.push((await r.loss.read())[0] * count, count, b.size);
    tape.dispose();
    gpu.submit();
  }
  l.close();
  const t = Float64Array.from(parts);
  if (dp && l.options.share) dp.mpi.allreduceSum(t);
  let sum = 0, n = 0;
  for (let i = 0; i < t.length; i += 3) {
    if (!t[i + 2]) continue;
    sum += (t[i + 1] ? t[i] / t[i + 1] : 0) * t[i + 2];
    n += t[i + 2];
  }
  return sum / Math.max(n, 1);
}
