/**
 * GPU runtime: device acquisition, tensors, buffer pool, pipeline and bind-group caches, and
 * the one-encoder-per-step submission model.
 *
 * @example
 * ```ts ignore
 * import { requestGpu } from "@mpm/webgpu/gpu";
 * const gpu = await requestGpu();
 * const t = gpu.upload(new Float32Array([1, 2, 3]));
 * console.log(gpu.adapterName, await t.read());
 * ```
 *
 * @module
 */
export * from "./buffer_pool.ts";
export * from "./errors.ts";
export * from "./gpu.ts";
export * from "./kernel_spec.ts";
export * from "./profiler.ts";
export * from "./tensor.ts";
