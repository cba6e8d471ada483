/**
 * Files and formats below every other layer: atomic writes and the safetensors codec. Nothing
 * here knows about GPUs or jets.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "@mpm/webgpu/io";
 * const bytes = encodeSafetensors(new Map([["w", { shape: [1], data: new Float32Array([2]) }]]));
 * console.assert(decodeSafetensors(bytes).tensors.get("w")!.data[0] === 2);
 * ```
 *
 * @module
 */
export * from "./files.ts";
export * from "./safetensors.ts";
export * from "./fingerprint.ts";
export * from "./mpi.ts";
