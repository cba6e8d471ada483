/**
 * Bind groups, cached (least recently used, bounded) by signature, uniform chunk and the exact
 * buffer ranges bound, so a training step that repeats its shapes creates none after the first.
 * A `null` binding binds a small dummy buffer or texture; a tensor above the storage binding
 * limit is refused with the fix.
 *
 * @module
 */
import { ShapeError } from "./errors.ts";
import { type KernelSpec, UNIFORM_SLOT_BYTES } from "./kernel_spec.ts";
import type { PipelineCache } from "./pipeline_cache.ts";
import { Tensor } from "./tensor.ts";

/** Bind groups kept. */
export const MAX_BIND_GROUPS = 8192;

/**
 * The bind-group cache of one device.
 *
 * @example
 * ```ts ignore
 * const cache = new BindGroupCache(device, pipelines, device.limits.maxStorageBufferBindingSize);
 * const bg = cache.get(ELEMENTWISE, 0, uniformBuffer, [x, y, null, out]);
 * ```
 */
export class BindGroupCache {
  /** Bind groups created (cache misses). */
  created = 0;
  #device: GPUDevice;
  #layouts: PipelineCache;
  #maxBinding: number;
  #groups = new Map<string, GPUBindGroup>();
  #ids = new WeakMap<object, number>();
  #nextId = 1;
  #dummies: GPUBuffer[] = [];
  #dummyTextures = new Map<number, GPUTexture>();

  /** A cache on `device` using `layouts` for the bind-group layouts. */
  constructor(device: GPUDevice, layouts: PipelineCache, maxBindingSize: number) {
    this.#device = device;
    this.#layouts = layouts;
    this.#maxBinding = maxBindingSize;
  }

  /**
   * The bind group of `bindings` (in `spec.bindings` order) with uniform chunk `chunk`.
   *
   * @throws {ShapeError} for a tensor above the storage binding limit
   * @throws {TypeError} for a tensor where a texture is declared, or the reverse
   * @throws {Error} for a disposed tensor
   */
  get(
    spec: KernelSpec,
    chunk: number,
    uniforms: GPUBuffer,
    bindings: readonly (Tensor | GPUTexture | null)[],
  ): GPUBindGroup {
    const key = this.#key(spec, chunk, bindings);
    let bg = this.#groups.get(key);
    if (bg) {
      this.#groups.delete(key);
      this.#groups.set(key, bg);
      return bg;
    }
    const entries: GPUBindGroupEntry[] = [{
      binding: 0,
      resource: { buffer: uniforms, offset: 0, size: UNIFORM_SLOT_BYTES },
    }];
    bindings.forEach((b, i) => entries.push(this.#entry(spec, i, b)));
    bg = this.#device.createBindGroup({ layout: this.#layouts.bindGroupLayout(spec), entries });
    this.created++;
    this.#groups.set(key, bg);
    if (this.#groups.size > MAX_BIND_GROUPS) {
      this.#groups.delete(this.#groups.keys().next().value!);
    }
    return bg;
  }

  #key(spec: KernelSpec, chunk: number, bindings: readonly (Tensor | GPUTexture | null)[]) {
    let key = `${spec.shader}|${chunk}`;
    for (const b of bindings) {
      if (b === null) key += "|-";
      else if (b instanceof Tensor) {
        if (b.disposed) throw new Error(`${spec.shader}: binding a disposed tensor [${b.shape}]`);
        key += `|${this.#id(b.buffer)}:${b.byteOffset}:${b.byteLength}`;
      } else key += `|t${this.#id(b)}`;
    }
    return key;
  }

  #entry(spec: KernelSpec, i: number, b: Tensor | GPUTexture | null): GPUBindGroupEntry {
    const kind = spec.bindings[i];
    if (kind === "texture" || kind === "storage-texture") {
      if (b instanceof Tensor) {
        throw new TypeError(`${spec.shader}: binding ${i + 1} needs a texture`);
      }
      return { binding: i + 1, resource: (b ?? this.#dummyTexture(i)).createView() };
    }
    if (b === null || (b instanceof Tensor && b.byteLength === 0)) {
      return { binding: i + 1, resource: { buffer: this.#dummy(i) } };
    }
    if (!(b instanceof Tensor)) {
      throw new TypeError(`${spec.shader}: binding ${i + 1} needs a buffer`);
    }
    if (b.byteLength > this.#maxBinding) {
      throw new ShapeError(
        `${spec.shader}: tensor [${b.shape}] is ${b.byteLength} bytes, above the ${this.#maxBinding}-byte ` +
          "storage binding limit of this adapter (maxStorageBufferBindingSize); use a smaller " +
          "batch, or a GPU with a larger limit",
      );
    }
    return {
      binding: i + 1,
      resource: { buffer: b.buffer, offset: b.byteOffset, size: Math.ceil(b.byteLength / 4) * 4 },
    };
  }

  #id(o: object): number {
    let id = this.#ids.get(o);
    if (id === undefined) this.#ids.set(o, id = this.#nextId++);
    return id;
  }

  #dummy(i: number): GPUBuffer {
    while (this.#dummies.length <= i) {
      this.#dummies.push(this.#device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE }));
    }
    return this.#dummies[i];
  }

  #dummyTexture(i: number): GPUTexture {
    let t = this.#dummyTextures.get(i);
    if (!t) {
      t = this.#device.createTexture({
        size: { width: 1, height: 1 },
        format: "rgba32float",
        usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING,
      });
      this.#dummyTextures.set(i, t);
    }
    return t;
  }
}
