/**
 * Data movement: embedding lookup, row gathers by index, column-block copies (concat/split on
 * the last axis), per-row exclusive prefix sums of a mask (with compaction indices), and
 * masked sums / means over the set axis. Each with its backward.
 *
 * @module
 */
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { expectDtype, expectSize, grid1d, lastDim } from "./_util.ts";
import { MOVEMENT } from "./specs.ts";

interface MoveArgs {
  rows?: number;
  cols?: number;
  vocab?: number;
  n?: number;
  nOut?: number;
  srcStride?: number;
  srcOffset?: number;
  dstStride?: number;
  dstOffset?: number;
  mean?: boolean;
  accumulate?: boolean;
}

function u(a: MoveArgs): Uniforms {
  return new Uniforms().u32(a.rows ?? 0).u32(a.cols ?? 0).u32(a.vocab ?? 0).u32(a.n ?? 0)
    .u32(a.nOut ?? 0).u32(a.srcStride ?? 0).u32(a.srcOffset ?? 0).u32(a.dstStride ?? 0)
    .u32(a.dstOffset ?? 0).u32(a.mean ? 1 : 0).u32(a.accumulate ? 1 : 0);
}

type B8 = [
  Tensor | null,
  Tensor | null,
  Tensor | null,
  Tensor | null,
  Tensor | null,
  Tensor | null,
  Tensor | null,
  Tensor | null,
];

function run(entry: string, args: MoveArgs, bindings: B8, invocations: number): void {
  const gpu = bindings.find((b) => b !== null)!.gpu;
  gpu.dispatch(MOVEMENT, entry, { uniforms: u(args), bindings, workgroups: grid1d(invocations) });
}

/**
 * Embedding lookup: `out[r] = table[ids[r]]` (ids outside the table give zeros).
 *
 * @example
 * ```ts ignore
 * const e = embeddingForward(table, ids); // table (V, C), ids (B, N) i32 -> (B, N, C)
 * ```
 */
export function embeddingForward(table: Tensor, ids: Tensor): Tensor {
  expectDtype("embedding", "ids", ids, "i32");
  const cols = lastDim(table), vocab = table.size / cols;
  const out = table.gpu.empty([...ids.shape, cols]);
  run("embedding_fwd", { rows: ids.size, cols, vocab }, [
    table,
    ids,
    null,
    out,
    null,
    null,
    null,
    null,
  ], ids.size * cols);
  return out;
}

/**
 * Gradient of an embedding table: `dtable[v] = sum over rows with ids == v of dout`.
 * One invocation per table entry, so it suits small vocabularies (particle types, mask tokens).
 *
 * @example
 * ```ts ignore
 * const dtable = embeddingBackward(dout, ids, 8);
 * ```
 */
export function embeddingBackward(dout: Tensor, ids: Tensor, vocab: number): Tensor {
  const cols = lastDim(dout);
  expectSize("embeddingBackward", "dout", dout, ids.size * cols);
  const out = dout.gpu.empty([vocab, cols]);
  run("embedding_bwd", { rows: ids.size, cols, vocab }, [
    dout,
    ids,
    null,
    out,
    null,
    null,
    null,
    null,
  ], vocab * cols);
  return out;
}

/**
 * Gathers rows: `out[r] = src[index[r]]`, zeros where `index[r] < 0`. With the inverse index
 * of a compaction, this is also its backward (and vice versa).
 *
 * @example
 * ```ts ignore
 * const kept = gatherRows(x.reshape([B * N, C]), scan.fwd); // (B * nOut, C)
 * ```
 */
export function gatherRows(
  src: Tensor,
  index: Tensor,
  options: { out?: Tensor; accumulate?: boolean } = {},
): Tensor {
  expectDtype("gatherRows", "index", index, "i32");
  const cols = lastDim(src);
  const out = options.out ?? src.gpu.empty([index.size, cols]);
  expectSize("gatherRows", "out", out, index.size * cols);
  run(
    "gather_rows",
    { rows: index.size, cols, accumulate: options.accumulate },
    [src, index, null, out, null, null, null, null],
    index.size * cols,
  );
  return out;
}

/**
 * Copies a block of columns: `dst[r, dstOffset + c] = src[r, srcOffset + c]` for `c < width`.
 * Concatenation on the last axis is two copies; its backward (split) is two copies back.
 *
 * @example
 * ```ts ignore
 * copyColumns(a, ab, { width: ca, dstOffset: 0 });
 * copyColumns(b, ab, { width: cb, dstOffset: ca });
 * ```
 */
export function copyColumns(
  src: Tensor,
  dst: Tensor,
  o: { width: number; srcOffset?: number; dstOffset?: number; accumulate?: boolean },
): void {
  const srcStride = lastDim(src), dstStride = lastDim(dst);
  const rows = src.size / srcStride;
  expectSize("copyColumns", "dst", dst, rows * dstStride);
  run(
    "copy_cols",
    {
      rows,
      cols: o.width,
      srcStride,
      srcOffset: o.srcOffset ?? 0,
      dstStride,
      dstOffset: o.dstOffset ?? 0,
      accumulate: o.accumulate,
    },
    [src, null, null, dst, null, null, null, null],
    rows * o.width,
  );
}

/**
 * Concatenates tensors along the last axis.
 *
 * @example
 * ```ts ignore
 * const xy = concatLast([x, y]); // (R, Cx + Cy)
 * ```
 */
export function concatLast(parts: readonly Tensor[]): Tensor {
  const widths = parts.map(lastDim);
  const rows = parts[0].size / widths[0];
  const total = widths.reduce((a, b) => a + b, 0);
  const out = parts[0].gpu.empty([...parts[0].shape.slice(0, -1), total]);
  let off = 0;
  parts.forEach((p, i) => {
    expectSize("concatLast", `part ${i}`, p, rows * widths[i]);
    copyColumns(p, out, { width: widths[i], dstOffset: off });
    off += widths[i];
  });
  return out;
}

/**
 * Splits the last axis into blocks of the given widths (the backward of {@linkcode concatLast}).
 *
 * @example
 * ```ts ignore
 * const [dx, dy] = splitLast(dxy, [cx, cy]);
 * ```
 */
export function splitLast(x: Tensor, widths: readonly number[]): Tensor[] {
  let off = 0;
  return widths.map((w) => {
    const out = x.gpu.empty([...x.shape.slice(0, -1), w]);
    copyColumns(x, out, { width: w, srcOffset: off });
    off += w;
    return out;
  });
}

/** Output of {@linkcode maskScan}. */
export interface MaskScan {
  /** (B, N) i32 exclusive prefix sum of the mask at set entries (rank among them), -1 elsewhere. */
  rank: Tensor;
  /** (B * nOut) i32 flat (B*N) index of the j-th set entry of each row, -1 past the count. */
  fwd: Tensor;
  /** (B * N) i32 flat (B*nOut) index of each set entry, -1 for unset entries. */
  inv: Tensor;
  /** (B) u32 number of set entries per row. */
  count: Tensor;
}

/**
 * Per-row exclusive prefix sum of a (B, N) u32 mask, plus the indices that compact the set
 * entries into (B, nOut) rows and scatter them back. Used to drop particles before an encoder
 * (gather with `fwd`), to put them back (gather with `inv`), and to rank dropped particles.
 *
 * @example
 * ```ts ignore
 * const scan = maskScan(kept, B, N, maxKept);
 * ```
 */
export function maskScan(mask: Tensor, batch: number, n: number, nOut: number = n): MaskScan {
  expectDtype("maskScan", "mask", mask, "u32");
  expectSize("maskScan", "mask", mask, batch * n);
  const gpu = mask.gpu;
  const rank = gpu.empty([batch, n], "i32");
  const fwd = gpu.empty([batch * nOut], "i32");
  const inv = gpu.empty([batch * n], "i32");
  const count = gpu.empty([batch], "u32");
  run(
    "mask_scan",
    { rows: batch, n, nOut },
    [null, null, mask, null, rank, fwd, inv, count],
    batch,
  );
  return { rank, fwd, inv, count };
}

/**
 * Number of set entries of each row of a (B, N) u32 mask, as u32 (B).
 *
 * @example
 * ```ts ignore
 * const n = maskCount(valid, B, N);
 * ```
 */
export function maskCount(mask: Tensor, batch: number, n: number): Tensor {
  expectSize("maskCount", "mask", mask, batch * n);
  const count = mask.gpu.empty([batch], "u32");
  run("mask_count", { rows: batch, n }, [null, null, mask, null, null, null, null, count], batch);
  return count;
}

/**
 * Masked sum or mean over the set axis: (B, N, C) -> (B, C). `count` (from
 * {@linkcode maskCount}) is required for the mean; an empty row gives zeros.
 *
 * @example
 * ```ts ignore
 * const count = maskCount(valid, B, N);
 * const pooled = maskedSumForward(x, valid, { mean: true, count });
 * ```
 */
export function maskedSumForward(
  x: Tensor,
  mask: Tensor,
  o: { mean?: boolean; count?: Tensor } = {},
): Tensor {
  const [batch, n, cols] = [x.shape[0], x.shape[1], lastDim(x)];
  expectSize("maskedSum", "mask", mask, batch * n);
  if (o.mean && !o.count) throw new Error("maskedSum: mean needs count (maskCount)");
  const out = x.gpu.empty([batch, cols]);
  run("masked_sum", { rows: batch, n, cols, mean: o.mean }, [
    x,
    null,
    mask,
    out,
    null,
    null,
    null,
    o.count ?? null,
  ], batch * cols);
  return out;
}

/**
 * Gradient of {@linkcode maskedSumForward}: broadcasts (B, C) back to the set entries.
 *
 * @example
 * ```ts ignore
 * const dx = maskedSumBackward(dpooled, valid, N, { mean: true, count });
 * ```
 */
export function maskedSumBackward(
  dout: Tensor,
  mask: Tensor,
  n: number,
  o: { mean?: boolean; count?: Tensor } = {},
): Tensor {
  const [batch, cols] = [dout.shape[0], lastDim(dout)];
  const out = dout.gpu.empty([batch, n, cols]);
  run("masked_sum_bwd", { rows: batch, n, cols, mean: o.mean }, [
    dout,
    null,
    mask,
    out,
    null,
    null,
    null,
    o.count ?? null,
  ], batch * n * cols);
  return out;
}
