/**
 * WGSL kernels, forward and backward, each with a TypeScript wrapper that records dispatches
 * into the current step. Every kernel is tested against an independent float64 reference.
 *
 * @example
 * ```ts ignore
 * import { requestGpu } from "@mpm/webgpu/gpu";
 * import { matmul } from "@mpm/webgpu/kernels";
 * const gpu = await requestGpu();
 * const a = gpu.upload(new Float32Array([1, 2, 3, 4]), [2, 2]);
 * console.log(await matmul(a, a).read()); // [7, 10, 15, 22]
 * ```
 *
 * @module
 */
export * from "./adamw.ts";
export * from "./attention.ts";
export * from "./elementwise.ts";
export * from "./layernorm.ts";
export * from "./losses.ts";
export * from "./matmul.ts";
export * from "./matmul_tuner.ts";
export * from "./half.ts";
export * from "./linear_swiglu.ts";
export * from "./movement.ts";
export * from "./random.ts";
export * from "./reduce.ts";
export * from "./specs.ts";
export * from "./kmeans.ts";
export * from "./spline.ts";
export * from "./modulate.ts";
export * from "./vq.ts";
