/**
 * LayerNorm over the last axis (affine), forward and backward.
 *
 * @module
 */
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { Gpu } from "../gpu/gpu.ts";
import { expectSize, grid1d, lastDim } from "./_util.ts";
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
  gpu.dispatch(LAYERNORM, row ? "forward_row" : "forward", {
    uniforms: uniforms(rows, cols, eps),
    bindings: [x, gamma, beta, null, y, mean, rstd],
    workgroups: row ? grid1d(rows) : rowGrid(rows),
  });
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
  gpu.dispatch(LAYERNORM, row ? "backward_dx_row" : "backward_dx", {
    uniforms: uniforms(rows, cols, 0),
    bindings: [x, gamma, null, dy, dx, saved.mean, saved.rstd],
    workgroups: row ? grid1d(rows) : rowGrid(rows),
  });
  const chunkRows = Math.max(8, Math.ceil(Math.sqrt(rows)));
  const chunks = Math.ceil(rows / chunkRows);
  const partial = gpu.empty([chunks, 2 * cols]);
  gpu.dispatch(LAYERNORM, "backward_params", {
    uniforms: uniforms(rows, cols, 0, chunkRows, chunks),
    bindings: [x, gamma, null, dy, partial, saved.mean, saved.rstd],
    workgroups: grid1d(chunks * cols),
  });
  const both = colSum(partial, chunks, 2 * cols);
  partial.dispose();
  const dgamma = gpu.empty([cols]), dbeta = gpu.empty([cols]);
  gpu.copy(both.view([cols], 0), dgamma);
  gpu.copy(both.view([cols], cols), dbeta);
  both.dispose();
  return { dx, dgamma, dbeta };
}
