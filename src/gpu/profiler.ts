/**
 * Per-kernel GPU time from timestamp queries. While a profile is open, every dispatch runs in
 * its own compute pass whose start and end are timestamped (WebGPU's `timestampWrites`); each
 * submitted step resolves its queries into a buffer that is read back when the profile closes.
 * The device times the kernels themselves, so the figures hold on any adapter with the
 * `timestamp-query` feature (lavapipe has it, as do NVIDIA's Vulkan drivers), at the price of a
 * pass per dispatch while profiling.
 *
 * @module
 */

/** Queries per query set (WebGPU's limit is 4096): 2048 timed dispatches. */
const QUERIES = 4096;

/** Time of one kernel entry summed over a profile. */
export interface KernelTime {
  /** `shader.entry`. */
  kernel: string;
  /** Dispatches timed. */
  dispatches: number;
  /** Total device time in milliseconds. */
  ms: number;
}

/** A closed profile: per-kernel times, largest first. */
export interface Profile {
  /** Kernels by total time. */
  kernels: KernelTime[];
  /** Sum of every timed dispatch, in milliseconds. */
  totalMs: number;
  /** Dispatches timed. */
  dispatches: number;
}

interface Resolved {
  staging: GPUBuffer;
  labels: string[];
}

/**
 * Collects timestamps for the dispatches of the steps recorded while it is open. Created by
 * `Gpu.startProfile`, closed by {@linkcode KernelProfiler.stop}.
 *
 * @example
 * ```ts ignore
 * const profile = gpu.startProfile();
 * trainStep();
 * gpu.submit();
 * const { kernels, totalMs } = await profile.stop();
 * for (const k of kernels.slice(0, 5)) console.log(k.kernel, k.ms.toFixed(1), "ms");
 * ```
 */
export class KernelProfiler {
  #device: GPUDevice;
  #sets: GPUQuerySet[] = [];
  #labels: string[] = [];
  #resolved: Resolved[] = [];
  #buffers: GPUBuffer[] = [];
  #onStop: () => void;
  #stopped = false;

  /** Used by `Gpu.startProfile`; `onStop` detaches it from the device's step encoder. */
  constructor(device: GPUDevice, onStop: () => void) {
    if (!device.features.has("timestamp-query")) {
      throw new Error(
        "profiling needs the adapter feature timestamp-query, which this device lacks",
      );
    }
    this.#device = device;
    this.#onStop = onStop;
  }

  /** Timestamp writes for the pass of the next dispatch, labelled `label`. */
  timestampWrites(label: string): GPUComputePassTimestampWrites {
    const i = this.#labels.length, set = Math.floor((2 * i) / QUERIES);
    while (this.#sets.length <= set) {
      this.#sets.push(this.#device.createQuerySet({ type: "timestamp", count: QUERIES }));
    }
    this.#labels.push(label);
    const at = (2 * i) % QUERIES;
    return {
      querySet: this.#sets[set],
      beginningOfPassWriteIndex: at,
      endOfPassWriteIndex: at + 1,
    };
  }

  /** Records the resolution of this step's timestamps into `encoder` (before it finishes). */
  resolve(encoder: GPUCommandEncoder): void {
    const n = this.#labels.length;
    if (n === 0) return;
    const bytes = 2 * n * 8;
    const resolve = this.#device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    for (let s = 0; s * QUERIES < 2 * n; s++) {
      const count = Math.min(QUERIES, 2 * n - s * QUERIES);
      encoder.resolveQuerySet(this.#sets[s], 0, count, resolve, s * QUERIES * 8);
    }
    this.#buffers.push(resolve);
    const staging = this.#device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    encoder.copyBufferToBuffer(resolve, 0, staging, 0, bytes);
    this.#resolved.push({ staging, labels: this.#labels });
    this.#labels = [];
  }

  /**
   * Closes the profile (steps recorded afterwards are not timed) and reads the timestamps of
   * every step submitted while it was open.
   *
   * @returns per-kernel device time, largest first
   */
  async stop(): Promise<Profile> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#onStop();
    }
    const byKernel = new Map<string, KernelTime>();
    let totalMs = 0, dispatches = 0;
    for (const { staging, labels } of this.#resolved) {
      await staging.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(staging.getMappedRange().slice(0));
      staging.unmap();
      staging.destroy();
      labels.forEach((kernel, i) => {
        const ms = Number(t[2 * i + 1] - t[2 * i]) / 1e6;
        if (!(ms >= 0)) return; // a timestamp the driver did not write
        const k = byKernel.get(kernel) ?? { kernel, dispatches: 0, ms: 0 };
        k.dispatches++;
        k.ms += ms;
        byKernel.set(kernel, k);
        totalMs += ms;
        dispatches++;
      });
    }
    this.#resolved = [];
    for (const b of this.#buffers) b.destroy();
    this.#buffers = [];
    for (const s of this.#sets) s.destroy();
    this.#sets = [];
    const kernels = [...byKernel.values()].sort((a, b) => b.ms - a.ms);
    return { kernels, totalMs, dispatches };
  }
}
