/**
 * The current step's command encoder and its one compute pass: dispatches go into the open pass;
 * a clear or a copy closes it (the next dispatch opens another); `finish` hands the command
 * buffer to the submit. While a {@linkcode KernelProfiler} is attached, each dispatch gets a
 * timestamped pass of its own.
 *
 * @module
 */
import type { KernelProfiler } from "./profiler.ts";

/**
 * The step being recorded.
 *
 * @example
 * ```ts ignore
 * const step = new StepEncoder(device);
 * step.pass().dispatchWorkgroups(1);
 * const cmd = step.finish();
 * if (cmd) device.queue.submit([cmd]);
 * ```
 */
export class StepEncoder {
  #device: GPUDevice;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  /** Times every dispatch while set (see `Gpu.startProfile`). */
  profiler: KernelProfiler | null = null;

  /** A step recorder on `device`. */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** Whether anything was recorded since the last finish. */
  get open(): boolean {
    return this.#encoder !== null;
  }

  /** The step's encoder, outside any pass (for clears and copies). */
  encoder(): GPUCommandEncoder {
    this.endPass();
    return this.#encoder ??= this.#device.createCommandEncoder();
  }

  /**
   * The step's compute pass (opened when needed); while profiling, a new pass timestamped for
   * the dispatch `label`.
   */
  pass(label = ""): GPUComputePassEncoder {
    if (this.profiler) {
      this.endPass();
      this.#encoder ??= this.#device.createCommandEncoder();
      return this.#pass = this.#encoder.beginComputePass({
        timestampWrites: this.profiler.timestampWrites(label),
      });
    }
    if (this.#pass) return this.#pass;
    this.#encoder ??= this.#device.createCommandEncoder();
    return this.#pass = this.#encoder.beginComputePass();
  }

  /** Ends the open compute pass, if any. */
  endPass(): void {
    this.#pass?.end();
    this.#pass = null;
  }

  /** Closes the step: its command buffer, or null when nothing was recorded. */
  finish(): GPUCommandBuffer | null {
    this.endPass();
    if (this.#encoder) this.profiler?.resolve(this.#encoder);
    const enc = this.#encoder;
    this.#encoder = null;
    return enc ? enc.finish() : null;
  }
}
