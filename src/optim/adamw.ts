/**
 * AdamW over a {@linkcode ParameterStore}: one dispatch per trainable parameter group, with
 * global-norm gradient clipping computed on the GPU (no readback) and per-group learning-rate
 * multipliers (frozen groups are skipped).
 *
 * @module
 */
import type { ParameterStore } from "../autograd/parameters.ts";
import { adamwStep } from "../kernels/adamw.ts";
import { sumAll } from "../kernels/reduce.ts";
import { constant, type Schedule } from "./schedule.ts";

/** Hyper-parameters of {@linkcode AdamW} (defaults as `torch.optim.AdamW`, clip 1.0). */
export interface AdamWOptions {
  /** Base learning rate. Default 1e-3. */
  lr?: number;
  /** Default [0.9, 0.999]. */
  betas?: [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay. Default 1e-2. */
  weightDecay?: number;
  /** Global gradient-norm clip; 0 disables. Default 1. */
  maxNorm?: number;
  /** Learning-rate factor per step. Default constant. */
  schedule?: Schedule;
}

/**
 * The AdamW optimiser.
 *
 * @example
 * ```ts ignore
 * const opt = new AdamW(store, { lr: 1e-3, weightDecay: 1e-5, schedule: warmupCosine({...}) });
 * // in each step, after tape.backward(loss):
 * opt.step();
 * ```
 */
export class AdamW {
  /** The parameters it updates. */
  readonly store: ParameterStore;
  /** Resolved hyper-parameters. */
  readonly options: Required<AdamWOptions>;
  /** Optimiser steps so far (drives the learning-rate schedule). */
  t = 0;
  /**
   * Updates applied to each group so far: Adam's bias correction of a group counts from that
   * group's first update (as PyTorch, where a group frozen for U steps and then trained starts
   * its moments at step 1), not from the global step.
   */
  readonly groupSteps: Map<string, number> = new Map();

  /** Creates the optimiser (the store must be finalised before the first step). */
  constructor(store: ParameterStore, options: AdamWOptions = {}) {
    this.store = store;
    this.options = {
      lr: options.lr ?? 1e-3,
      betas: options.betas ?? [0.9, 0.999],
      eps: options.eps ?? 1e-8,
      weightDecay: options.weightDecay ?? 1e-2,
      maxNorm: options.maxNorm ?? 1,
      schedule: options.schedule ?? constant(),
    };
  }

  /**
   * Restores the step counters of a checkpoint: the global step, and each group's update count
   * (default: every group of the store updated at every step).
   */
  restore(t: number, groupSteps?: Readonly<Record<string, number>>): void {
    this.t = t;
    this.groupSteps.clear();
    for (const g of this.store.groups) this.groupSteps.set(g.name, groupSteps?.[g.name] ?? t);
  }

  /** Learning rate the next step uses for a group with multiplier 1. */
  get lr(): number {
    return this.options.lr * this.options.schedule(this.t);
  }

  /** Records the update of every trainable group into the current step. */
  step(): void {
    const gpu = this.store.gpu;
    const groups = this.store.groups.filter((g) => !g.frozen && g.size > 0);
    if (groups.length === 0) {
      this.t++;
      return;
    }
    const sumsq = gpu.empty([1]);
    groups.forEach((g, i) =>
      sumAll(g.arena("grads"), { squares: true, out: sumsq, accumulate: i > 0 })
    );
    const lr = this.lr;
    const o = this.options;
    this.t++;
    for (const g of groups) {
      const gt = (this.groupSteps.get(g.name) ?? 0) + 1;
      this.groupSteps.set(g.name, gt);
      adamwStep(g.arena("values"), g.arena("grads"), g.arena("m"), g.arena("v"), sumsq, {
        lr: lr * g.lrScale,
        beta1: o.betas[0],
        beta2: o.betas[1],
        eps: o.eps,
        weightDecay: o.weightDecay,
        step: gt,
        maxNorm: o.maxNorm,
      });
    }
    sumsq.dispose();
  }
}
