/**
 * Data movement: embedding lookup, row gathers by index, column-block copies (concat/split on
 * the last axis), per-row exclusive prefix sums of a mask (with compaction indices), and
 * masked sums / means over the set axis. Each with its backward.
 *
 * Above the storage binding limit the row-parallel entries run on segments of whole rows, and a
 * gather whose source cannot be bound whole runs once per source window (each output row is
 * written by the window holding its index). The mask scans bind (B, N) u32 masks whole: they
 * stay under 128 MiB up to 245,000 jets of 136 slots.
 *
 * @module
 */
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { expectDtype, expectSize, grid1d, lastDim, rowSegments } from "./_util.ts";
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
  /** gather_rows: source rows [lo, hi) bound as the window. */
  window?: [number, number];
}

function u(a: MoveArgs): Uniforms {
  return new Uniforms().u32(a.rows ?? 0).u32(a.cols ?? 0).u32(a.vocab ?? 0).u32(a.n ?? 0)
    .u32(a.nOut ?? 0).u32(a.srcStride ?? 0).u32(a.srcOffset ?? 0).u32(a.dstStride ?? 0)
    .u32(a.dstOffset ?? 0).u32(a.mean ? 1 : 0).u32(a.accumulate ? 1 : 0)
    .u32(a.window ? 1 : 0).u32(a.window?.[0] ?? 0).u32(a.window?.[1] ?? 0);
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
 * Runs a row-parallel entry over `rows` rows in segments that keep every binding under the
 * binding limit. `widths[i]` is binding i's elements per row (0: bound whole), `perRow` the
 * invocations per row; `args.rows` is set to each segment's row count.
 */
function runRows(
  entry: string,
  args: MoveArgs,
  bindings: B8,
  rows: number,
  widths: readonly number[],
  perRow: number,
): void {
  const gpu = bindings.find((b) => b !== null)!.gpu;
  const used = widths.filter((w, i) => w > 0 && bindings[i] !== null);
  for (const [s, c] of rowSegments(gpu, rows, used)) {
    const views = bindings.map((b, i) =>
      b && widths[i] > 0 && (s > 0 || c < rows) ? b.view([c * widths[i]], s * widths[i]) : b
    ) as B8;
    run(entry, { ...args, rows: c }, views, c * perRow);
  }
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
  runRows(
    "embedding_fwd",
    { cols, vocab },
    [table, ids, null, out, null, null, null, null],
    ids.size,
    [0, 1, 0, cols],
    cols,
  );
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
  // Segments of ids and dout rows; each after the first adds to the table gradient.
  const gpu = dout.gpu;
  for (const [s, c] of rowSegments(gpu, ids.size, [cols, 1])) {
    const whole = s === 0 && c === ids.size;
    run("embedding_bwd", { rows: c, cols, vocab, accumulate: s > 0 }, [
      whole ? dout : dout.view([c * cols], s * cols),
      whole ? ids : ids.view([c], s),
      null,
      out,
      null,
      null,
      null,
      null,
    ], vocab * cols);
  }
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
  const gpu = src.gpu;
  const out = options.out ?? gpu.empty([index.size, cols]);
  expectSize("gatherRows", "out", out, index.size * cols);
  const srcRows = src.size / cols;
  const windows = rowSegments(gpu, srcRows, [cols]);
  if (windows.length === 1) {
    runRows(
      "gather_rows",
      { cols, accumulate: options.accumulate },
      [src, index, null, out, null, null, null, null],
      index.size,
      [0, 1, 0, cols],
      cols,
    );
    return out;
  }
  // A source too large to bind whole: one pass per source window, each writing the rows whose
  // index it holds (into a cleared output unless accumulating; rows with index -1 stay 0).
  if (!options.accumulate) gpu.clear(out);
  for (const [s, c] of windows) {
    runRows(
      "gather_rows",
      { cols, accumulate: true, window: [s, s + c] },
      [src.view([c * cols], s * cols), index, null, out, null, null, null, null],
      index.size,
      [0, 1, 0, cols],
      cols,
    );
  }
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
  runRows(
    "copy_cols",
    {
      cols: o.width,
      srcStride,
      srcOffset: o.srcOffset ?? 0,
      dstStride,
      dstOffset: o.dstOffset ?? 0,
      accumulate: o.accumulate,
    },
    [src, null, null, dst, null, null, null, null],
    rows,
    [srcStride, 0, 0, dstStride],
    o.width,
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
  runRows(
    "masked_sum",
    { n, cols, mean: o.mean },
    [x, null, mask, out, null, null, null, o.count ?? null],
    batch,
    [n * cols, 0, n, cols, 0, 0, 0, 1],
    cols,
  );
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
  runRows(
    "masked_sum_bwd",
    { n, cols, mean: o.mean },
    [dout, null, mask, out, null, null, null, o.count ?? null],
    batch,
    [cols, 0, n, n * cols, 0, 0, 0, 1],
    n * cols,
  );
  return out;
}
