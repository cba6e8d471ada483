/**
 * Masked particle modelling: configuration and presets, the MPMv2 encoder-decoder with ordered
 * mask tokens, pre-training task heads, and backbones for downstream use.
 *
 * @example
 * ```ts
 * import { preset } from "@mpm/webgpu/mpm";
 * const config = preset("small");
 * console.assert(config.objective === "mae" && config.maskFraction === 0.4);
 * ```
 *
 * @module
 */
export * from "./backbone.ts";
export * from "./config.ts";
export * from "./model.ts";
export * from "./prepare.ts";
export * from "./tasks.ts";
export * from "./kmeans.ts";
export * from "./cfm.ts";
export * from "./embedding.ts";
export * from "./cnf.ts";
export * from "./ssfm.ts";
export * from "./vqvae.ts";
export * from "./registry.ts";
