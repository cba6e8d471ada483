/**
 * Where a training step's time goes: one pre-training step of a preset, every dispatch timed on
 * the device (timestamp queries), summed by kernel, beside the step's wall time. The difference
 * between the two is host work (recording, uploads) and the driver's per-pass overhead.
 *
 * @module
 */
import { type Gpu, requestGpu } from "../src/gpu/gpu.ts";
import { preset } from "../src/mpm/config.ts";
import type { Report } from "./data_bench.ts";
import { benchBatch, pretrainWorkload } from "./preset_bench.ts";

/**
 * Profiles one pre-training step of each preset in `runs` ([name, batch]) and reports the top
 * kernels' share of device time, the device total and the wall time of an unprofiled step.
 */
export async function profileBenchmarks(
  gpu: Gpu,
  report: Report,
  log: (s: string) => void,
  runs: ["small" | "paper", number][],
): Promise<void> {
  if (!gpu.device.features.has("timestamp-query")) {
    log("profile: this adapter has no timestamp-query; skipped");
    return;
  }
  // lavapipe's timestamps miss most of a storage-buffer kernel's work once a texture has been
  // used, so on a CPU driver the profile runs on the storage path (and only the small preset).
  const own = gpu.isSoftware && gpu.matmulPath === "texture";
  if (own) {
    log("profile: CPU driver; timing the storage path (texture-path timestamps are unreliable)");
    gpu = await requestGpu({ matmulPath: "storage" });
    runs = runs.filter(([name]) => name === "small");
  }
  for (const [name, B] of runs) {
    const w = pretrainWorkload(gpu, name);
    const batch = benchBatch(B, 40, 128, preset(name).features);
    w.step(batch);
    await gpu.sync();
    const t0 = performance.now();
    w.step(batch);
    await gpu.sync();
    const wall = performance.now() - t0;
    const profile = gpu.startProfile();
    w.step(batch);
    const p = await profile.stop();
    w.dispose();
    const shape = `${name} b${B}x40 ${gpu.matmulPath}`;
    report("step_wall_time", shape, wall, "ms");
    report("step_device_time", `${shape} (${p.dispatches} dispatches)`, p.totalMs, "ms");
    if (p.totalMs < 0.5 * wall) {
      log(`profile: the timed kernels cover ${(100 * p.totalMs / wall).toFixed(0)} % of the step`);
    }
    for (const k of p.kernels.slice(0, 12)) {
      report(
        `kernel ${k.kernel}`,
        `${shape} x${k.dispatches}`,
        (100 * k.ms) / p.totalMs,
        `% (${k.ms.toFixed(1)} ms)`,
      );
    }
  }
  gpu.trim();
  if (own) gpu.destroy();
}
