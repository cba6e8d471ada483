/**
 * Device acquisition: {@linkcode requestGpu} asks for an adapter and a device with the adapter's
 * limits and optional features (`shader-f16`, `timestamp-query`), and wraps it in a `Gpu`.
 *
 * @module
 */
import { GpuUnavailableError } from "./errors.ts";
import { Gpu } from "./gpu.ts";

/** Options of {@linkcode requestGpu}. */
export interface GpuOptions {
  /** Passed to `navigator.gpu.requestAdapter`. */
  powerPreference?: GPUPowerPreference;
  /** Use this adapter instead of requesting one. */
  adapter?: GPUAdapter;
  /** Most bytes kept in the buffer pool's free lists. Default 1 GiB. */
  maxPooledBytes?: number;
  /**
   * Matmul path: `"texture"` reads operands through rgba32float textures (fast on CPU
   * drivers such as lavapipe, where storage loads are slow), `"storage"` reads storage buffers
   * (register-tiled). Default `"auto"`: texture on fallback/CPU adapters, storage otherwise.
   * The environment variable `MPM_MATMUL` (`texture` | `storage`) overrides the default.
   */
  matmulPath?: "auto" | "texture" | "storage";
  /**
   * Precision of the linear layers' matmul operands: `"f32"` (default) or `"f16"` (mixed
   * precision: f16 operands, f32 accumulation, f32 master weights; needs `shader-f16`). The
   * environment variable `MPM_PRECISION` (`f32` | `f16`) sets the default.
   */
  precision?: "f32" | "f16";
  /**
   * Cap on the bytes bound per storage buffer (default: the device's
   * `maxStorageBufferBindingSize`). Large matmul operands are processed in chunks below it.
   */
  maxBindingSize?: number;
}

/** Counters of what the runtime has done, for tests and benchmarks. */
export interface GpuStats {
  /** Compute dispatches recorded. */
  dispatches: number;
  /** `queue.submit` calls (steps and readbacks). */
  submits: number;
  /** Pipelines compiled. */
  pipelines: number;
  /** Bind groups created (cache misses). */
  bindGroups: number;
}

/** Limits requested from the adapter (the WebGPU defaults are far below what GPUs offer). */
const REQUESTED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxStorageBuffersPerShaderStage",
  "maxTextureDimension2D",
  "maxStorageTexturesPerShaderStage",
  "minStorageBufferOffsetAlignment",
  "minUniformBufferOffsetAlignment",
] as const;

/**
 * Acquires a WebGPU adapter and device with limits raised to what the adapter supports.
 *
 * @throws {GpuUnavailableError} when no adapter exists (with instructions to get one).
 * @example
 * ```ts ignore
 * import { requestGpu } from "@mpm/webgpu";
 * const gpu = await requestGpu();
 * console.log(gpu.adapterName);
 * gpu.destroy();
 * ```
 */
export async function requestGpu(options: GpuOptions = {}): Promise<Gpu> {
  if (!("gpu" in navigator) || !navigator.gpu) {
    throw new GpuUnavailableError("navigator.gpu is undefined in this runtime");
  }
  const adapter = options.adapter ??
    await navigator.gpu.requestAdapter({ powerPreference: options.powerPreference });
  if (!adapter) throw new GpuUnavailableError("navigator.gpu.requestAdapter() returned null");
  const requiredLimits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number | undefined>)[name];
    if (typeof v === "number") requiredLimits[name] = v;
  }
  const requiredFeatures: GPUFeatureName[] = [];
  if (adapter.features.has("shader-f16")) requiredFeatures.push("shader-f16");
  if (adapter.features.has("timestamp-query")) requiredFeatures.push("timestamp-query");
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  return new Gpu(adapter, device, options);
}
