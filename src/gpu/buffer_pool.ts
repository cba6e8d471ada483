/**
 * A bounded, size-bucketed pool of storage buffers.
 *
 * Buffers released while a step is being recorded only become reusable after that step is
 * submitted, so a buffer is never overwritten (by `writeBuffer`) while an earlier, unsubmitted
 * dispatch still reads it, and never destroyed while a pending command buffer references it.
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
 * pool.afterSubmit(); // now reusable
 * ```
 */
export class BufferPool {
  #device: GPUDevice;
  #free = new Map<number, GPUBuffer[]>();
  #pending: GPUBuffer[] = [];
  #pooledBytes = 0;
  #liveBytes = 0;
  #peakBytes = 0;
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

  /** Restarts peak tracking from the current live bytes. */
  resetPeak(): void {
    this.#peakBytes = this.#liveBytes;
  }

  /** Bytes held in free lists. */
  get pooledBytes(): number {
    return this.#pooledBytes;
  }

  /** Returns a buffer of at least `bytes` bytes (contents undefined). */
  acquire(bytes: number): GPUBuffer {
    const size = bucketSize(bytes);
    const list = this.#free.get(size);
    let buf = list?.pop();
    if (buf) {
      this.#pooledBytes -= size;
    } else {
      buf = this.#device.createBuffer({ size, usage: STORAGE_USAGE });
    }
    this.#liveBytes += size;
    if (this.#liveBytes > this.#peakBytes) this.#peakBytes = this.#liveBytes;
    return buf;
  }

  /** Gives a buffer back; it becomes reusable after the next submit. */
  release(buf: GPUBuffer): void {
    this.#liveBytes -= buf.size;
    this.#pending.push(buf);
  }

  /** Moves buffers released during the submitted step into the free lists (or destroys them). */
  afterSubmit(): void {
    for (const buf of this.#pending) {
      if (this.#pooledBytes + buf.size > this.#maxPooled) {
        buf.destroy();
        continue;
      }
      let list = this.#free.get(buf.size);
      if (!list) this.#free.set(buf.size, list = []);
      list.push(buf);
      this.#pooledBytes += buf.size;
    }
    this.#pending = [];
  }

  /** Destroys every free buffer (buffers in use are untouched). */
  trim(): void {
    for (const list of this.#free.values()) for (const b of list) b.destroy();
    this.#free.clear();
    this.#pooledBytes = 0;
  }
}
