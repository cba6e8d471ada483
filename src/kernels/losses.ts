/**
 * Loss kernels, each reduced as a mean over valid entries with no readback: the forward pass
 * returns a 1-element tensor (the mean) plus the per-row statistics the backward pass needs.
 *
 * @module
 */
import { ShapeError } from "../gpu/errors.ts";
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { expectDtype, expectSize, grid1d, lastDim, rowSegments } from "./_util.ts";
import { colSum, ratio } from "./reduce.ts";
import { CROSS_ENTROPY, POINTWISE_LOSS } from "./specs.ts";

/** Mean loss plus what its backward pass reads. */
export interface LossSaved {
  /** (1) mean loss over valid entries (0 when none). */
  loss: Tensor;
  /** Per-row statistics written by the forward pass. */
  stats: Tensor;
  /** Column sums of `stats`: [sum of losses, number (or weight) of valid entries, ...]. */
  total: Tensor;
}

/** Options of {@linkcode crossEntropyForward}. */
export interface CrossEntropyOptions {
  /** (rows) u32, 1 = row counts; omit for all rows. Rows with a negative target never count. */
  valid?: Tensor;
  /** Label smoothing epsilon in [0, 1). Default 0. */
  labelSmoothing?: number;
  /** (V) class weights (PyTorch `weight=`). */
  classWeights?: Tensor;
}

function ceUniforms(rows: number, vocab: number, o: CrossEntropyOptions): Uniforms {
  return new Uniforms().u32(rows).u32(vocab).f32(o.labelSmoothing ?? 0).u32(o.valid ? 1 : 0)
    .u32(o.classWeights ? 1 : 0);
}

/**
 * Softmax cross-entropy of (rows, V) logits against i32 targets, with label smoothing and
 * optional class weights, as `torch.nn.functional.cross_entropy(..., reduction="mean")`.
 *
 * @example
 * ```ts ignore
 * const saved = crossEntropyForward(logits, targets, { labelSmoothing: 0.1, valid });
 * const dlogits = crossEntropyBackward(logits, targets, saved, gOne, { labelSmoothing: 0.1, valid });
 * ```
 */
export function crossEntropyForward(
  logits: Tensor,
  targets: Tensor,
  options: CrossEntropyOptions = {},
): LossSaved {
  const vocab = lastDim(logits), rows = logits.size / vocab;
  expectDtype("crossEntropy", "targets", targets, "i32");
  expectSize("crossEntropy", "targets", targets, rows);
  if (options.valid) expectSize("crossEntropy", "valid", options.valid, rows);
  if (options.classWeights) expectSize("crossEntropy", "classWeights", options.classWeights, vocab);
  const ls = options.labelSmoothing ?? 0;
  if (!(ls >= 0 && ls < 1)) {
    throw new ShapeError(`crossEntropy: label smoothing ${ls} not in [0, 1)`);
  }
  const gpu = logits.gpu;
  const stats = gpu.empty([rows, 4]);
  // Segments of whole rows under the binding limit (one segment below it).
  for (const [s, n] of rowSegments(gpu, rows, [vocab, 1, 4])) {
    const r = rowView(s, n, rows);
    gpu.dispatch(CROSS_ENTROPY, "forward", {
      uniforms: ceUniforms(n, vocab, options),
      bindings: [
        r(logits),
        r(targets),
        options.valid ? r(options.valid) : null,
        options.classWeights ?? null,
        null,
        null,
        r(stats),
        null,
      ],
      workgroups: n <= 65535 ? [n, 1] : [65535, Math.ceil(n / 65535)],
    });
  }
  const total = colSum(stats, rows, 4);
  return { loss: ratio(total), stats, total };
}

/**
 * Gradient of {@linkcode crossEntropyForward}'s mean with respect to the logits, scaled by the
 * upstream gradient `g` (a 1-element tensor).
 *
 * @example
 * ```ts ignore
 * const dlogits = crossEntropyBackward(logits, targets, saved, g);
 * ```
 */
export function crossEntropyBackward(
  logits: Tensor,
  targets: Tensor,
  saved: LossSaved,
  g: Tensor,
  options: CrossEntropyOptions = {},
): Tensor {
  const vocab = lastDim(logits), rows = logits.size / vocab;
  const gpu = logits.gpu;
  const out = gpu.empty(logits.shape);
  for (const [s, n] of rowSegments(gpu, rows, [vocab, 1, 4])) {
    const r = rowView(s, n, rows);
    gpu.dispatch(CROSS_ENTROPY, "backward", {
      uniforms: ceUniforms(n, vocab, options),
      bindings: [
        r(logits),
        r(targets),
        options.valid ? r(options.valid) : null,
        options.classWeights ?? null,
        g,
        saved.total,
        r(saved.stats),
        r(out),
      ],
      workgroups: grid1d(n * vocab),
    });
  }
  return out;
}

/**
 * Views of rows [s, s + n) of a tensor with `rows` rows (its width is its size / rows); the
 * tensor itself for the one full segment below the binding limit.
 */
function rowView(s: number, n: number, rows: number) {
  return (t: Tensor): Tensor => {
    if (s === 0 && n === rows) return t;
    const w = t.size / rows;
    return t.view([n * w], s * w);
  };
}

/** Pointwise loss kinds. */
export type PointwiseLoss = "l1" | "mse" | "huber" | "bce" | "focal";
const LOSS_CODE: Record<PointwiseLoss, number> = { l1: 0, mse: 1, huber: 2, bce: 3, focal: 4 };

/** Options of {@linkcode pointwiseLossForward}. */
export interface PointwiseLossOptions {
  /** Validity, u32: (rows) per row, or (rows * cols) per entry. Omit for all entries. */
  valid?: Tensor;
  /** Huber threshold. Default 1. */
  delta?: number;
  /** Focal exponent. Default 2. */
  gamma?: number;
  /** Focal class balance in [0, 1]; negative (default) disables. */
  alpha?: number;
  /** Multiplies each entry's loss by `1 + (posWeight - 1) * target`. Default 1. */
  posWeight?: number;
}

function pwUniforms(
  rows: number,
  cols: number,
  o: PointwiseLossOptions,
  perEntry: boolean,
): Uniforms {
  return new Uniforms().u32(rows).u32(cols).u32(o.valid ? 1 : 0).u32(perEntry ? 1 : 0)
    .f32(o.delta ?? 1).f32(o.gamma ?? 2).f32(o.alpha ?? -1).f32(o.posWeight ?? 1);
}

function validLayout(pred: Tensor, rows: number, o: PointwiseLossOptions): boolean {
  if (!o.valid) return false;
  expectDtype("pointwiseLoss", "valid", o.valid, "u32");
  if (o.valid.size === rows) return false;
  if (o.valid.size === pred.size) return true;
  throw new ShapeError(
    `pointwiseLoss: valid has ${o.valid.size} entries; expected ${rows} (rows) or ${pred.size}`,
  );
}

/**
 * Mean of an elementwise loss over valid entries of (rows, cols) predictions: L1, MSE, Huber,
 * binary cross-entropy with logits, or sigmoid focal loss.
 *
 * @example
 * ```ts ignore
 * const saved = pointwiseLossForward("l1", pred, target, { valid });
 * ```
 */
export function pointwiseLossForward(
  kind: PointwiseLoss,
  pred: Tensor,
  target: Tensor,
  options: PointwiseLossOptions = {},
): LossSaved {
  const cols = lastDim(pred), rows = pred.size / cols;
  expectSize(`${kind} loss`, "target", target, pred.size);
  const perEntry = validLayout(pred, rows, options);
  const gpu = pred.gpu;
  const stats = gpu.empty([rows, 2]);
  for (const [s, n] of rowSegments(gpu, rows, [cols, perEntry ? cols : 1, 2])) {
    const r = rowView(s, n, rows);
    gpu.dispatch(POINTWISE_LOSS, "forward", {
      uniforms: pwUniforms(n, cols, options, perEntry),
      bindings: [
        r(pred),
        r(target),
        options.valid ? r(options.valid) : null,
        null,
        null,
        r(stats),
        null,
      ],
      workgroups: grid1d(n),
      overrides: { LOSS: LOSS_CODE[kind] },
    });
  }
  const total = colSum(stats, rows, 2);
  return { loss: ratio(total), stats, total };
}

/**
 * Gradient of {@linkcode pointwiseLossForward}'s mean with respect to `pred`, scaled by `g`.
 *
 * @example
 * ```ts ignore
 * const dpred = pointwiseLossBackward("l1", pred, target, saved, g, { valid });
 * ```
 */
export function pointwiseLossBackward(
  kind: PointwiseLoss,
  pred: Tensor,
  target: Tensor,
  saved: LossSaved,
  g: Tensor,
  options: PointwiseLossOptions = {},
): Tensor {
  const cols = lastDim(pred), rows = pred.size / cols;
  const perEntry = validLayout(pred, rows, options);
  const gpu = pred.gpu;
  const out = gpu.empty(pred.shape);
  for (const [s, n] of rowSegments(gpu, rows, [cols, perEntry ? cols : 1, 2])) {
    const r = rowView(s, n, rows);
    gpu.dispatch(POINTWISE_LOSS, "backward", {
      uniforms: pwUniforms(n, cols, options, perEntry),
      bindings: [
        r(pred),
        r(target),
        options.valid ? r(options.valid) : null,
        g,
        saved.total,
        r(saved.stats),
        r(out),
      ],
      workgroups: grid1d(n * cols),
      overrides: { LOSS: LOSS_CODE[kind] },
    });
  }
  return out;
}
