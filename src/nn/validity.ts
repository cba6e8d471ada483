/**
 * Which slots of padded sets are real: one object holding the host copy (the truth, from the
 * data) and its GPU upload, so code that needs either never carries two representations or a
 * sentinel. `true` (1) marks a real particle (or register), everywhere.
 *
 * @module
 */
import type { Tape } from "../autograd/tape.ts";
import type { Gpu } from "../gpu/gpu.ts";
import type { Tensor } from "../gpu/tensor.ts";

/**
 * Validity of a batch of padded sets, (batch, length) as u32 0/1.
 *
 * @example
 * ```ts ignore
 * import { Validity } from "@mpm/webgpu/nn";
 * const v = new Validity(gpu, new Uint32Array([1, 1, 0, 1, 0, 0]), 2, 3);
 * const withRegisters = v.withRegisters(tape, 2); // (2, 5): registers first, always valid
 * console.log(v.count(1)); // 1
 * v.dispose();
 * ```
 */
export class Validity {
  /** Host copy, row-major (batch, length). */
  readonly host: Uint32Array;
  /** Sets. */
  readonly batch: number;
  /** Slots per set. */
  readonly length: number;
  #gpu: Gpu;
  #tensor: Tensor | null = null;

  /**
   * A validity of `batch` sets of `length` slots (uploaded when first used).
   *
   * @param gpu device for the upload
   * @param host (batch * length) 0/1 values
   * @param batch sets
   * @param length slots per set
   */
  constructor(gpu: Gpu, host: Uint32Array, batch: number, length: number) {
    if (host.length !== batch * length) {
      throw new RangeError(`Validity: ${host.length} values for (${batch}, ${length}) sets`);
    }
    this.#gpu = gpu;
    this.host = host;
    this.batch = batch;
    this.length = length;
  }

  /**
   * A validity whose GPU tensor is uploaded now and disposed with `tape`.
   *
   * @param tape owner of the upload
   * @param host (batch * length) values
   * @param batch sets
   * @param length slots per set
   * @returns the validity
   */
  static onTape(tape: Tape, host: Uint32Array, batch: number, length: number): Validity {
    const v = new Validity(tape.gpu, host, batch, length);
    tape.keep(v.tensor);
    return v;
  }

  /** The (batch, length) u32 tensor, uploaded on first use (owned by this object). */
  get tensor(): Tensor {
    return this.#tensor ??= this.#gpu.upload(this.host, [this.batch, this.length]);
  }

  /** Real slots of set `b`. */
  count(b: number): number {
    let n = 0;
    for (let k = b * this.length; k < (b + 1) * this.length; k++) n += this.host[k] ? 1 : 0;
    return n;
  }

  /**
   * The validity of the sets with `registers` always-valid slots in front (what an encoder with
   * registers attends over), its tensor owned by `tape`.
   */
  withRegisters(tape: Tape, registers: number): Validity {
    if (registers === 0) return this;
    const R = registers, N = this.length, out = new Uint32Array(this.batch * (R + N));
    for (let b = 0; b < this.batch; b++) {
      out.fill(1, b * (R + N), b * (R + N) + R);
      out.set(this.host.subarray(b * N, (b + 1) * N), b * (R + N) + R);
    }
    return Validity.onTape(tape, out, this.batch, R + N);
  }

  /** Releases the upload (if any). */
  dispose(): void {
    this.#tensor?.dispose();
    this.#tensor = null;
  }
}
