/**
 * Downstream heads: class attention (jet classification, CWoLa, b-tagging), the vertex-finding
 * twin network, and the track-origin MLP.
 *
 * @example
 * ```ts
 * import { pairSlots } from "@mpm/webgpu/heads";
 * console.assert(pairSlots(new Uint32Array(15).fill(1), new Int32Array(15), 1, 15).P === 105);
 * ```
 *
 * @module
 */
export * from "./heads.ts";
