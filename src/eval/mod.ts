/**
 * Evaluation helpers: SVG plots (and, with the downstream work, metrics).
 *
 * @example
 * ```ts
 * import { histogram, histogramSvg } from "@mpm/webgpu/eval";
 * const h = histogram([1, 2, 2, 3], 3, 1, 3);
 * console.assert(histogramSvg(h.edges, [{ label: "x", y: h.counts }]).includes("svg"));
 * ```
 *
 * @module
 */
export * from "./plots.ts";
export * from "./metrics.ts";
export * from "./generation.ts";
export * from "./jetnet_metrics.ts";
