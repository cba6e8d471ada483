/**
 * Data-movement ops: embeddings, row gathers, concatenation and splits, masked means, and
 * prepended register rows.
 *
 * @module
 */
import * as M from "../../kernels/movement.ts";
import { ShapeError } from "../../gpu/errors.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { colSum } from "../../kernels/reduce.ts";
import type { Tape } from "../tape.ts";

const last = (t: Tensor) => t.shape[t.shape.length - 1];

/**
 * Embedding lookup: table (V, C), ids (...) i32 -> (..., C).
 *
 * @example
 * ```ts ignore
 * const e = embedding(tape, tape.param(typeTable), ids);
 * ```
 */
export function embedding(tape: Tape, table: Tensor, ids: Tensor): Tensor {
  const y = M.embeddingForward(table, ids);
  tape.record(
    [table],
    [y],
    ([g]) => tape.addGrad(table, M.embeddingBackward(g!, ids, table.shape[0])),
  );
  return y;
}

/**
 * Gathers rows of `src` (rows = all but the last axis) by `index` (-1 gives zeros). The map
 * must be injective; `inverse` (index of each source row in the output, -1 if absent, as
 * produced by `maskScan`) is its backward.
 *
 * @example Drop particles before an encoder, then put the outputs back
 * ```ts ignore
 * const scan = maskScan(kept, B, N, nKept);
 * const compact = gatherRows(tape, x, scan.fwd, scan.inv, [B, nKept, C]);
 * const back = gatherRows(tape, encoded, scan.inv, scan.fwd, [B, N, C]);
 * ```
 */
export function gatherRows(
  tape: Tape,
  src: Tensor,
  index: Tensor,
  inverse: Tensor,
  outShape: readonly number[],
): Tensor {
  const c = last(src);
  const y = M.gatherRows(src.reshape([src.size / c, c]), index).into(outShape);
  tape.record([src], [y], ([g]) => {
    const gs = M.gatherRows(g!.reshape([index.size, c]), inverse);
    tape.addGrad(src, gs.into(src.shape));
  });
  return y;
}

/**
 * Concatenates along the last axis.
 *
 * @example
 * ```ts ignore
 * const h = concat(tape, [xt, timeEmb, ctx]);
 * ```
 */
export function concat(tape: Tape, parts: readonly Tensor[]): Tensor {
  const y = M.concatLast(parts);
  const widths = parts.map(last);
  tape.record(parts, [y], ([g]) => {
    const grads = M.splitLast(g!, widths);
    parts.forEach((p, i) => tape.addGrad(p, grads[i]));
  });
  return y;
}

/**
 * Splits the last axis into parts of the given widths (the inverse of {@linkcode concat}).
 *
 * @example
 * ```ts ignore
 * const [shift, scale, gate] = split(tape, modulation, [D, D, D]);
 * ```
 */
export function split(tape: Tape, x: Tensor, widths: readonly number[]): Tensor[] {
  const parts = M.splitLast(x, widths);
  tape.record([x], parts, (gs) => {
    const full = gs.map((g, i) => g ?? tape.keep(x.gpu.zeros(parts[i].shape)));
    tape.addGrad(x, M.concatLast(full).into(x.shape));
  });
  return parts;
}

/**
 * Masked mean over the set axis: x (B, N, C), mask (B, N) u32 -> (B, C); empty rows give 0.
 *
 * @example
 * ```ts ignore
 * const pooled = maskedMean(tape, h, valid);
 * ```
 */
export function maskedMean(tape: Tape, x: Tensor, mask: Tensor): Tensor {
  const [batch, n] = [x.shape[0], x.shape[1]];
  const count = tape.keep(M.maskCount(mask, batch, n));
  const y = M.maskedSumForward(x, mask, { mean: true, count });
  tape.record(
    [x],
    [y],
    ([g]) => tape.addGrad(x, M.maskedSumBackward(g!, mask, n, { mean: true, count })),
  );
  return y;
}

/**
 * Prepends the same R rows (learnable registers) to every set: reg (R, C), x (B, n, C) ->
 * (B, R + n, C).
 *
 * @example
 * ```ts ignore
 * const h = prependRows(tape, tape.param(registers), embedded); // registers first, always valid
 * ```
 */
export function prependRows(tape: Tape, reg: Tensor, x: Tensor): Tensor {
  const [R, C] = [reg.shape[0], reg.shape[1]];
  const [B, n] = [x.shape[0], x.shape[1]];
  if (x.shape[2] !== C) {
    throw new ShapeError(`prependRows: x [${x.shape}] and registers [${reg.shape}] widths differ`);
  }
  const gpu = x.gpu;
  const stacked = tape.keep(gpu.empty([R + B * n, C]));
  gpu.copy(reg, stacked.view([R, C], 0));
  if (B * n > 0) gpu.copy(x.reshape([B * n, C]), stacked.view([B * n, C], R * C));
  const idx = new Int32Array(B * (R + n)), inv = new Int32Array(B * n);
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < R; s++) idx[b * (R + n) + s] = s;
    for (let k = 0; k < n; k++) {
      idx[b * (R + n) + R + k] = R + b * n + k;
      inv[b * n + k] = b * (R + n) + R + k;
    }
  }
  const idxT = tape.keep(gpu.upload(idx)), invT = tape.keep(gpu.upload(inv));
  const y = M.gatherRows(stacked, idxT).into([B, R + n, C]);
  tape.record([reg, x], [y], ([g]) => {
    const g2 = g!.reshape([B * (R + n), C]);
    if (tape.requiresGrad(x)) tape.addGrad(x, M.gatherRows(g2, invT).into(x.shape));
    if (tape.requiresGrad(reg)) {
      const sums = colSum(g!, B, (R + n) * C);
      const dreg = gpu.empty([R, C]);
      gpu.copy(sums.view([R * C], 0), dreg.reshape([R * C]));
      sums.dispose();
      tape.addGrad(reg, dreg);
    }
  });
  return y;
}
