/**
 * LayerNorm over the last axis (affine), forward and backward.
 *
 * @module
 */
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { Gpu } from "../gpu/gpu.ts";
import { expectSize, grid1d, lastDim, rowSegments } from "./_util.ts";
import { accumulate } from "./elementwise.ts";
import { colSum } from "./reduce.ts";
import { LAYERNORM } from "./specs.ts";

/** Result of {@linkcode layerNormForward}: output and the statistics the backward pass needs. */
export interface LayerNormSaved {
  /** Normalised, scaled and shifted output (same shape as x). */
  y: Tensor;
  /** Per-row mean (rows). */
  mean: Tensor;
  /** Per-row 1 / sqrt(var + eps) (rows). */
  rstd: Tensor;
}

/** Gradients from {@linkcode layerNormBackward}. */
export interface LayerNormGrads {
  /** Gradient of the input. */
  dx: Tensor;
  /** Gradient of gamma (cols). */
  dgamma: Tensor;
  /** Gradient of beta (cols). */
  dbeta: Tensor;
}

function uniforms(rows: number, cols: number, eps: number, chunkRows = 0, chunks = 0): Uniforms {
  return new Uniforms().u32(rows).u32(cols).f32(eps).u32(chunkRows).u32(chunks);
}

/** Views of rows [s, s + n) of a (rows, w) tensor (the whole tensor for one full segment). */
function rowsOf(s: number, n: number, cols: number) {
  return (
    t: Tensor,
    w = cols,
  ): Tensor => (s === 0 && n * w === t.size ? t : t.view([n * w], s * w));
}

function rowGrid(rows: number, max = 65535): [number, number] {
  return rows <= max ? [rows, 1] : [max, Math.ceil(rows / max)];
}

/** Which kernel variant: a workgroup per row (GPUs) or an invocation per row (CPU drivers). */
export type LayerNormVariant = "workgroup" | "row";

function variant(gpu: Gpu, v?: LayerNormVariant): LayerNormVariant {
  return v ?? (gpu.isSoftware ? "row" : "workgroup");
}

/**
 * `y = (x - mean) / sqrt(var + eps) * gamma + beta` over the last axis.
 *
 * @example
 * ```ts ignore
 * const { y, mean, rstd } = layerNormForward(x, gamma, beta);
 * ```
 */
export function layerNormForward(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  eps = 1e-5,
  options: { variant?: LayerNormVariant } = {},
): LayerNormSaved {
  const cols = lastDim(x), rows = x.size / cols;
  expectSize("layerNorm", "gamma", gamma, cols);
  expectSize("layerNorm", "beta", beta, cols);
  const gpu = x.gpu;
  const y = gpu.empty(x.shape), mean = gpu.empty([rows]), rstd = gpu.empty([rows]);
  const row = variant(gpu, options.variant) === "row";
  // Segments of whole rows under the binding limit (one segment below it).
  for (const [s, n] of rowSegments(gpu, rows, [cols, 1])) {
    const r = rowsOf(s, n, cols);
    gpu.dispatch(LAYERNORM, row ? "forward_row" : "forward", {
      uniforms: uniforms(n, cols, eps),
      bindings: [r(x), gamma, beta, null, r(y), r(mean, 1), r(rstd, 1)],
      workgroups: row ? grid1d(n) : rowGrid(n),
    });
  }
  return { y, mean, rstd };
}

/**
 * Gradients of LayerNorm given the saved statistics.
 *
 * @example
 * ```ts ignore
 * const { dx, dgamma, dbeta } = layerNormBackward(x, gamma, saved, dy);
 * ```
 */
export function layerNormBackward(
  x: Tensor,
  gamma: Tensor,
  saved: { mean: Tensor; rstd: Tensor },
  dy: Tensor,
  options: { variant?: LayerNormVariant } = {},
): LayerNormGrads {
  const cols = lastDim(x), rows = x.size / cols;
  expectSize("layerNormBackward", "dy", dy, x.size);
  const gpu = x.gpu;
  const dx = gpu.empty(x.shape);
  const row = variant(gpu, options.variant) === "row";
  let both: Tensor | null = null;
  // Segments of whole rows under the binding limit; dgamma/dbeta sum over the segments.
  for (const [s, n] of rowSegments(gpu, rows, [cols, 1])) {
    const r = rowsOf(s, n, cols);
    const [xs, dys, ms, rs] = [r(x), r(dy), r(saved.mean, 1), r(saved.rstd, 1)];
    gpu.dispatch(LAYERNORM, row ? "backward_dx_row" : "backward_dx", {
      uniforms: uniforms(n, cols, 0),
      bindings: [xs, gamma, null, dys, r(dx), ms, rs],
      workgroups: row ? grid1d(n) : rowGrid(n),
    });
    const chunkRows = Math.max(8, Math.ceil(Math.sqrt(n)));
    const chunks = Math.ceil(n / chunkRows);
    const partial = gpu.empty([chunks, 2 * cols]);
    gpu.dispatch(LAYERNORM, "backward_params", {
      uniforms: uniforms(n, cols, 0, chunkRows, chunks),
      bindings: [xs, gamma, null, dys, partial, ms, rs],
      workgroups: grid1d(chunks * cols),
    });
    const part = colSum(partial, chunks, 2 * cols);
    partial.dispose();
    if (both) {
      accumulate(both, part);
      part.dispose();
    } else both = part;
  }
  both = both!;
  const dgamma = gpu.empty([cols]), dbeta = gpu.empty([cols]);
  gpu.copy(both.view([cols], 0), dgamma);
  gpu.copy(both.view([cols], cols), dbeta);
  both.dispose();
  return { dx, dgamma, dbeta };
}
