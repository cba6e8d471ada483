/**
 * Loss ops: cross-entropy, pointwise losses (L1, MSE, Huber, BCE, focal), weighted sums of
 * losses and means.
 *
 * @module
 */
import * as E from "../../kernels/elementwise.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import {
  crossEntropyBackward,
  crossEntropyForward,
  type CrossEntropyOptions,
  type PointwiseLoss,
  pointwiseLossBackward,
  pointwiseLossForward,
  type PointwiseLossOptions,
} from "../../kernels/losses.ts";
import { sumAll } from "../../kernels/reduce.ts";
import type { Tape } from "../tape.ts";

/**
 * Mean softmax cross-entropy (label smoothing, class weights, row validity); returns (1).
 *
 * @example
 * ```ts ignore
 * const loss = crossEntropy(tape, logits, ids, { labelSmoothing: 0.1, valid: dropped });
 * ```
 */
export function crossEntropy(
  tape: Tape,
  logits: Tensor,
  targets: Tensor,
  options: CrossEntropyOptions = {},
): Tensor {
  const saved = crossEntropyForward(logits, targets, options);
  tape.keep(saved.stats);
  tape.keep(saved.total);
  tape.record(
    [logits],
    [saved.loss],
    ([g]) => tape.addGrad(logits, crossEntropyBackward(logits, targets, saved, g!, options)),
  );
  return saved.loss;
}

/**
 * Mean pointwise loss (L1, MSE, Huber, BCE with logits, sigmoid focal) over valid entries;
 * returns (1).
 *
 * @example
 * ```ts ignore
 * const loss = pointwiseLoss(tape, "l1", pred, target, { valid });
 * ```
 */
export function pointwiseLoss(
  tape: Tape,
  kind: PointwiseLoss,
  pred: Tensor,
  target: Tensor,
  options: PointwiseLossOptions = {},
): Tensor {
  const saved = pointwiseLossForward(kind, pred, target, options);
  tape.keep(saved.stats);
  tape.keep(saved.total);
  tape.record(
    [pred],
    [saved.loss],
    ([g]) => tape.addGrad(pred, pointwiseLossBackward(kind, pred, target, saved, g!, options)),
  );
  return saved.loss;
}

/**
 * Weighted sum of 1-element losses: `sum_i w_i * loss_i`.
 *
 * @example
 * ```ts ignore
 * const total = weightedSum(tape, [[regLoss, 1], [idLoss, 0.3]]);
 * ```
 */
export function weightedSum(tape: Tape, terms: readonly (readonly [Tensor, number])[]): Tensor {
  let acc = E.scale(terms[0][0], terms[0][1]);
  for (const [t, w] of terms.slice(1)) {
    const next = E.axpby(acc, t, { alpha: 1, beta: w });
    acc.dispose();
    acc = next;
  }
  tape.record(terms.map((t) => t[0]), [acc], ([g]) => {
    for (const [t, w] of terms) if (tape.requiresGrad(t)) tape.addGrad(t, E.scale(g!, w));
  });
  return acc;
}

/**
 * Mean of all elements (1 element).
 *
 * @example
 * ```ts ignore
 * const m = meanAll(tape, logdet);
 * ```
 */
export function meanAll(tape: Tape, x: Tensor): Tensor {
  const s = sumAll(x), y = E.scale(s, 1 / x.size);
  s.dispose();
  tape.record([x], [y], ([g]) => {
    const z = x.gpu.zeros([x.size, 1]), sg = E.scale(g!, 1 / x.size);
    const gx = E.addBroadcast(z, sg);
    z.dispose();
    sg.dispose();
    tape.addGrad(x, gx.into(x.shape));
  });
  return y;
}
