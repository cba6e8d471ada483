/**
 * Neural-network layers built on the autograd ops: Linear, LayerNorm, multi-head
 * self-attention, SwiGLU feed-forward and the pre-norm transformer block with LayerScale.
 *
 * @example
 * ```ts ignore
 * import { InitRng, TransformerBlock } from "@mpm/webgpu/nn";
 * const block = new TransformerBlock({ store, rng: new InitRng(42) }, "encoder.layers.0", 128, 4);
 * ```
 *
 * @module
 */
export * from "./init.ts";
export * from "./layers.ts";
export * from "./adaln.ts";
export * from "./validity.ts";
