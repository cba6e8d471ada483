/**
 * Pooled rgba32float textures (the matmul operands on CPU drivers), by size class. Textures are
 * only ever written by kernels, which run in recording order, so a released texture serves the
 * next acquire at once, in the same step; surplus textures are destroyed after the submit.
 *
 * @module
 */

/** Textures kept per size class. */
const KEEP_PER_SIZE = 64;

/**
 * The texture pool of one device.
 *
 * @example
 * ```ts ignore
 * const pool = new TexturePool(device);
 * const t = pool.acquire(100, 4096);
 * pool.release(t);
 * console.assert(pool.acquire(100, 4096) === t); // reused within the step
 * pool.afterSubmit();
 * ```
 */
export class TexturePool {
  #device: GPUDevice;
  #free = new Map<string, GPUTexture[]>();

  /** A pool on `device`. */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /**
   * A texture of at least `width` x `height` texels (width rounded up to 8, height to a power of
   * two, at least 64), usable as a write-only storage texture and a sampled texture.
   *
   * @throws {RangeError} above `maxTextureDimension2D`
   */
  acquire(width: number, height: number): GPUTexture {
    const w = Math.max(8, Math.ceil(width / 8) * 8);
    const h = Math.max(64, 2 ** Math.ceil(Math.log2(height)));
    const max = this.#device.limits.maxTextureDimension2D;
    if (w > max || Math.min(h, max) < height) {
      throw new RangeError(`texture ${width}x${height} exceeds maxTextureDimension2D ${max}`);
    }
    const key = `${w}x${Math.min(h, max)}`;
    const tex = this.#free.get(key)?.pop();
    if (tex) return tex;
    return this.#device.createTexture({
      size: { width: w, height: Math.min(h, max) },
      format: "rgba32float",
      usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING,
    });
  }

  /** Gives a texture back; the next acquire of its size class, in this step or later, reuses it. */
  release(tex: GPUTexture): void {
    const key = `${tex.width}x${tex.height}`;
    let list = this.#free.get(key);
    if (!list) this.#free.set(key, list = []);
    list.push(tex);
  }

  /** Destroys surplus free textures (the step that used them is submitted). */
  afterSubmit(): void {
    for (const list of this.#free.values()) {
      while (list.length > KEEP_PER_SIZE) list.pop()!.destroy();
    }
  }

  /** Destroys every pooled texture. */
  destroy(): void {
    for (const list of this.#free.values()) for (const t of list) t.destroy();
    this.#free.clear();
  }
}
