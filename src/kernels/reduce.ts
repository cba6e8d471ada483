/**
 * Reductions: column sums (bias and LayerNorm parameter gradients, loss totals), sums of
 * squares (gradient norms) and the scalar ratio of a masked mean.
 *
 * @module
 */
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { expectSize, grid1d, rowSegments } from "./_util.ts";
import { REDUCE } from "./specs.ts";

/** Options of {@linkcode colSum}. */
export interface ColSumOptions {
  /** Multiply by this tensor elementwise before summing (same shape as x). */
  product?: Tensor;
  /** Write into this tensor (cols elements) instead of a new one. */
  out?: Tensor;
  /** Add the sum into `out` instead of overwriting it. */
  accumulate?: boolean;
  /** Scale applied to the sum. Default 1. */
  alpha?: number;
}

/**
 * Sums a (rows, cols) matrix over its rows: `out[c] = alpha * sum_r x[r, c] (* y[r, c])`.
 * Two stages (chunks of rows, then chunks), so large reductions stay parallel; above the storage
 * binding limit, segments of rows summed into `out` one after the other.
 *
 * @example
 * ```ts ignore
 * const dbias = colSum(dy, 4096, 128); // sum of the gradient over tokens
 * ```
 */
export function colSum(x: Tensor, rows: number, cols: number, options: ColSumOptions = {}): Tensor {
  expectSize("colSum", "x", x, rows * cols);
  if (options.product) expectSize("colSum", "product", options.product, rows * cols);
  const gpu = x.gpu;
  const out = options.out ?? gpu.empty([cols]);
  expectSize("colSum", "out", out, cols);
  // Above the binding limit: segments of whole rows, each added into `out`.
  const segments = rowSegments(gpu, rows, [cols]);
  if (segments.length > 1) {
    segments.forEach(([s, n], k) => {
      colSum(x.view([n * cols], s * cols), n, cols, {
        ...options,
        product: options.product?.view([n * cols], s * cols),
        out,
        accumulate: k > 0 || options.accumulate,
      });
    });
    return out;
  }
  const chunkRows = Math.max(8, Math.ceil(Math.sqrt(rows)));
  const chunks = Math.max(1, Math.ceil(rows / chunkRows));
  const partial = gpu.empty([chunks, cols]);
  const u = new Uniforms().u32(rows).u32(cols).u32(chunkRows).u32(chunks)
    .u32(options.accumulate ? 1 : 0).f32(options.alpha ?? 1);
  const bindings = [x, options.product ?? null, partial, out] as const;
  gpu.dispatch(REDUCE, "colsum_partial", {
    uniforms: u,
    bindings,
    workgroups: grid1d(chunks * cols),
    overrides: { PRODUCT: options.product ? 1 : 0 },
  });
  gpu.dispatch(REDUCE, "colsum_final", { uniforms: u, bindings, workgroups: grid1d(cols) });
  partial.dispose();
  return out;
}

/**
 * Sum of all elements (a 1-element tensor); with `squares`, the sum of squares.
 *
 * @example
 * ```ts ignore
 * const sq = sumAll(grads, { squares: true }); // squared global norm
 * ```
 */
export function sumAll(
  x: Tensor,
  options: { squares?: boolean; out?: Tensor; accumulate?: boolean } = {},
): Tensor {
  return colSum(x, x.size, 1, {
    product: options.squares ? x : undefined,
    out: options.out,
    accumulate: options.accumulate,
  });
}

/**
 * `out[0] = stats[0] / stats[1]`, or 0 when `stats[1] == 0` (masked mean with no entries).
 *
 * @example
 * ```ts ignore
 * const mean = ratio(colSum(rowStats, rows, 2)); // [sum, count] -> mean
 * ```
 */
export function ratio(stats: Tensor): Tensor {
  if (stats.size < 2) throw new RangeError(`ratio: stats has ${stats.size} < 2 elements`);
  const out = stats.gpu.empty([1]);
  stats.gpu.dispatch(REDUCE, "ratio", {
    uniforms: new Uniforms().u32(0),
    bindings: [stats, null, null, out],
    workgroups: [1],
  });
  return out;
}
