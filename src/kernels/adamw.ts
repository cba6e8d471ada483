/**
 * The AdamW update kernel over a flat parameter arena (one dispatch per parameter group).
 *
 * @module
 */
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { dispatchFlat, expectSize } from "./_util.ts";
import { ADAMW } from "./specs.ts";

/** Hyper-parameters of one {@linkcode adamwStep}. */
export interface AdamWStepArgs {
  /** Learning rate of this update. */
  lr: number;
  /** First-moment decay. */
  beta1: number;
  /** Second-moment decay. */
  beta2: number;
  /** Denominator epsilon. */
  eps: number;
  /** Decoupled weight decay (multiplied by lr). */
  weightDecay: number;
  /** 1-based step number (for bias correction). */
  step: number;
  /** Clip the global gradient norm to this (<= 0 disables). */
  maxNorm: number;
}

/**
 * One AdamW update of `param` in place, with moments `m`, `v`, and the gradient scaled by the
 * clip factor derived from `sumsq` (the squared global gradient norm, a 1-element tensor).
 *
 * @example
 * ```ts ignore
 * adamwStep(params, grads, m, v, sumsq, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8,
 *   weightDecay: 1e-5, step: 1, maxNorm: 1 });
 * ```
 */
export function adamwStep(
  param: Tensor,
  grad: Tensor,
  m: Tensor,
  v: Tensor,
  sumsq: Tensor,
  a: AdamWStepArgs,
): void {
  for (const [name, t] of [["grad", grad], ["m", m], ["v", v]] as const) {
    expectSize("adamw", name, t, param.size);
  }
  // Chunked above the binding limit (a paper-preset arena is 87 MB); sumsq is bound whole.
  dispatchFlat(
    ADAMW,
    "step",
    param.size,
    [grad, sumsq, param, m, v],
    (count) =>
      new Uniforms().u32(count).f32(a.lr).f32(a.beta1).f32(a.beta2).f32(a.eps)
        .f32(a.weightDecay).f32(1 - a.beta1 ** a.step).f32(1 - a.beta2 ** a.step).f32(a.maxNorm),
  );
}
