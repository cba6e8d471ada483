/**
 * The per-step uniform arena: every dispatch's uniform block goes into a slot of a chunked
 * uniform buffer (bound with a dynamic offset), and the used slots are uploaded once when the
 * step is submitted.
 *
 * @module
 */
import { UNIFORM_SLOT_BYTES, type Uniforms } from "./kernel_spec.ts";

/** Slots per uniform buffer. */
export const UNIFORM_CHUNK_SLOTS = 256;

/**
 * Uniform slots of the current step.
 *
 * @example
 * ```ts ignore
 * const arena = new UniformArena(device);
 * const { buffer, offset } = arena.slot(new Uniforms().u32(3));
 * arena.upload(); // at submit
 * ```
 */
export class UniformArena {
  /** Bytes between slots (the slot size rounded up to the device's offset alignment). */
  readonly stride: number;
  #device: GPUDevice;
  #chunks: GPUBuffer[] = [];
  #data: Uint8Array<ArrayBuffer>[] = [];
  #used = 0;

  /** An arena on `device`. */
  constructor(device: GPUDevice) {
    this.#device = device;
    this.stride = Math.max(UNIFORM_SLOT_BYTES, device.limits.minUniformBufferOffsetAlignment);
  }

  /** Takes the next slot and writes `u` into its host copy; returns the chunk and offset. */
  slot(u: Uniforms): { chunk: number; buffer: GPUBuffer; offset: number } {
    const slot = this.#used++;
    const chunk = Math.floor(slot / UNIFORM_CHUNK_SLOTS);
    if (chunk >= this.#chunks.length) {
      this.#chunks.push(this.#device.createBuffer({
        size: UNIFORM_CHUNK_SLOTS * this.stride,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      }));
      this.#data.push(new Uint8Array(UNIFORM_CHUNK_SLOTS * this.stride));
    }
    const offset = (slot % UNIFORM_CHUNK_SLOTS) * this.stride;
    this.#data[chunk].set(u.bytes(), offset);
    return { chunk, buffer: this.#chunks[chunk], offset };
  }

  /** Uploads the used slots (queue-ordered before the step's command buffer) and starts over. */
  upload(): void {
    for (let c = 0; c * UNIFORM_CHUNK_SLOTS < this.#used; c++) {
      const slots = Math.min(UNIFORM_CHUNK_SLOTS, this.#used - c * UNIFORM_CHUNK_SLOTS);
      this.#device.queue.writeBuffer(this.#chunks[c], 0, this.#data[c], 0, slots * this.stride);
    }
    this.#used = 0;
  }
}
