/**
 * Prints the WebGPU adapter this process gets, as one JSON object: adapter info, features
 * (`shader-f16`, `timestamp-query`, subgroups), the WGSL language features, every numeric limit,
 * and the device the library builds on it (its matmul path and whether it counts as a CPU
 * driver). Used by `bench/device.sh`; `deno run bench/adapter_info.ts` shows it anywhere.
 *
 * @module
 */
import { requestGpu } from "../src/gpu/gpu.ts";

const adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
if (!adapter) {
  console.error(
    "adapter_info: navigator.gpu.requestAdapter() returned null: no WebGPU adapter (on NVIDIA, " +
      "set VK_DRIVER_FILES to the driver's nvidia_icd.json; on a CPU, install mesa-vulkan-drivers)",
  );
  Deno.exit(1);
}
const info = adapter.info;
const limits: Record<string, number> = {};
for (const key in adapter.limits) {
  const v = (adapter.limits as unknown as Record<string, unknown>)[key];
  if (typeof v === "number") limits[key] = v;
}
const features = [...adapter.features].sort();
const gpu = await requestGpu({ adapter });
const out = {
  info: {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter: info.isFallbackAdapter,
    subgroupMinSize: (info as unknown as Record<string, unknown>).subgroupMinSize ?? null,
    subgroupMaxSize: (info as unknown as Record<string, unknown>).subgroupMaxSize ?? null,
  },
  features,
  has: {
    "shader-f16": adapter.features.has("shader-f16"),
    "timestamp-query": adapter.features.has("timestamp-query"),
    subgroups: adapter.features.has("subgroups" as GPUFeatureName),
  },
  wgslLanguageFeatures: [
    ...((navigator.gpu as unknown as { wgslLanguageFeatures?: Set<string> }).wgslLanguageFeatures ??
      []),
  ].sort(),
  limits,
  library: { adapterName: gpu.adapterName, matmulPath: gpu.matmulPath, software: gpu.isSoftware },
};
gpu.destroy();
console.log(JSON.stringify(out));
