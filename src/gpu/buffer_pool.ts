/**
 * A bounded, size-bucketed pool of storage buffers.
 *
 * A buffer released while a step is being recorded can serve a later kernel output of the same
 * step: dispatches, clears and copies of one command buffer run in recording order, so a kernel
 * that writes the recycled buffer runs after every earlier dispatch that read it. Such a buffer is
 * marked {@linkcode BufferPool.recycledInStep} until the submit, because a host write
 * (`queue.writeBuffer`) runs before the whole step and would overwrite what those earlier
 * dispatches still read; host writes therefore take buffers free since the last submit
 * (`acquire(bytes, { host: true })`), or go through a copy recorded in the step. Nothing is
 * destroyed before the step that used it is submitted.
 *
 * @module
 */

/** Usage flags of every pooled storage buffer. */
export const STORAGE_USAGE: number = 0x80 /* STORAGE */ | 0x4 /* COPY_SRC */ | 0x8; /* COPY_DST */

/**
 * Rounds a byte size up to its bucket: at least 256 bytes, then classes with 1/8 granularity
 * per power of two (at most 12.5 % waste).
 *
 * @example
 * ```ts
 * import { bucketSize } from "@mpm/webgpu/gpu";
 * console.assert(bucketSize(1) === 256);
 * console.assert(bucketSize(1000) === 1024);
 * ```
 */
export function bucketSize(bytes: number): number {
  if (bytes <= 256) return 256;
  const e = Math.floor(Math.log2(bytes)) - 3;
  const step = 2 ** Math.max(e, 0);
  return Math.ceil(bytes / step) * step;
}

/** Options of {@linkcode BufferPool}. */
export interface BufferPoolOptions {
  /** Most bytes kept in free lists; beyond this, released buffers are destroyed. Default 1 GiB. */
  maxPooledBytes?: number;
}

/**
 * Size-bucketed pool of `GPUBuffer`s with STORAGE | COPY_SRC | COPY_DST usage.
 *
 * @example
 * ```ts ignore
 * const pool = new BufferPool(device);
 * const buf = pool.acquire(4096);
 * pool.release(buf);
 * const out = pool.acquire(4096);                // the same buffer, for a kernel output
 * console.assert(pool.recycledInStep(out));
 * const up = pool.acquire(4096, { host: true });  // a fresh one, for an upload
 * pool.afterSubmit();                             // everything released is reusable by anyone
 * ```
 */
export class BufferPool {
  #device: GPUDevice;
  #free = new Map<number, GPUBuffer[]>();
  /** Released during the step being recorded: reusable by kernels of that step. */
  #stepFree = new Map<number, GPUBuffer[]>();
  #recycled = new Set<GPUBuffer>();
  #pooledBytes = 0;
  #liveBytes = 0;
  #peakBytes = 0;
  #allocatedBytes = 0;
  #peakAllocated = 0;
  #maxPooled: number;

  /** Creates a pool on `device`. */
  constructor(device: GPUDevice, options: BufferPoolOptions = {}) {
    this.#device = device;
    this.#maxPooled = options.maxPooledBytes ?? 1 << 30;
  }

  /** Bytes held by buffers in use (acquired and not yet returned). */
  get liveBytes(): number {
    return this.#liveBytes;
  }

  /** Highest `liveBytes` seen (reset with {@linkcode BufferPool.resetPeak}). */
  get peakBytes(): number {
    return this.#peakBytes;
  }

  /** Bytes of every buffer the pool has created and not destroyed (live, free or recycled). */
  get allocatedBytes(): number {
    return this.#allocatedBytes;
  }

  /** Highest `allocatedBytes` seen (reset with {@linkcode BufferPool.resetPeak}). */
  get peakAllocatedBytes(): number {
    return this.#peakAllocated;
  }

  /** Restarts peak tracking from the current live and allocated bytes. */
  resetPeak(): void {
    this.#peakBytes = this.#liveBytes;
    this.#peakAllocated = this.#allocatedBytes;
  }

  /**
   * Whether `buf` was released and handed out again during the step being recorded (a host
   * write into it must be recorded as a copy in the step, see the module notes).
   */
  recycledInStep(buf: GPUBuffer): boolean {
    return this.#recycled.has(buf);
  }

  /** Bytes held in free lists. */
  get pooledBytes(): number {
    return this.#pooledBytes;
  }

  /**
   * Returns a buffer of at least `bytes` bytes (contents undefined). With `host`, the buffer is
   * not one released during the current step (safe for `queue.writeBuffer`).
   */
  acquire(bytes: number, options: { host?: boolean } = {}): GPUBuffer {
    const size = bucketSize(bytes);
    let buf = this.#free.get(size)?.pop();
    if (buf) {
      this.#pooledBytes -= size;
    } else if (!options.host && (buf = this.#stepFree.get(size)?.pop())) {
      this.#recycled.add(buf);
    } else {
      buf = this.#device.createBuffer({ size, usage: STORAGE_USAGE });
      this.#allocatedBytes += size;
      if (this.#allocatedBytes > this.#peakAllocated) this.#peakAllocated = this.#allocatedBytes;
    }
    this.#liveBytes += size;
    if (this.#liveBytes > this.#peakBytes) this.#peakBytes = this.#liveBytes;
    return buf;
  }

  /**
   * Gives a buffer back: later kernel outputs of the same step may reuse it at once, host
   * writes after the next submit.
   */
  release(buf: GPUBuffer): void {
    this.#liveBytes -= buf.size;
    let list = this.#stepFree.get(buf.size);
    if (!list) this.#stepFree.set(buf.size, list = []);
    list.push(buf);
  }

  /** Moves buffers released during the submitted step into the free lists (or destroys them). */
  afterSubmit(): void {
    for (const list of this.#stepFree.values()) {
      for (const buf of list) {
        if (this.#pooledBytes + buf.size > this.#maxPooled) {
          buf.destroy();
          this.#allocatedBytes -= buf.size;
          continue;
        }
        let free = this.#free.get(buf.size);
        if (!free) this.#free.set(buf.size, free = []);
        free.push(buf);
        this.#pooledBytes += buf.size;
      }
    }
    this.#stepFree.clear();
    this.#recycled.clear();
  }

  /**
   * Destroys every free buffer (buffers in use, and those released during the unsubmitted step,
   * are untouched).
   */
  trim(): void {
    for (const list of this.#free.values()) {
      for (const b of list) {
        b.destroy();
        this.#allocatedBytes -= b.size;
      }
    }
    this.#free.clear();
    this.#pooledBytes = 0;
  }
}
