/**
 * The GPU runtime: device acquisition with adapter limits, pipeline and bind-group caches,
 * pooled buffers and textures, a per-step uniform arena, and one command encoder (one compute
 * pass) per step that is submitted once.
 *
 * @module
 */
import { SHADERS } from "../_shaders.gen.ts";
import { BufferPool } from "./buffer_pool.ts";
import {
  GpuDeviceLostError,
  GpuUnavailableError,
  GpuValidationError,
  ShapeError,
} from "./errors.ts";
import { type KernelSpec, UNIFORM_SLOT_BYTES, type Uniforms } from "./kernel_spec.ts";
import { type DType, DTYPE_BYTES, numel, Tensor } from "./tensor.ts";

/** Options of {@linkcode requestGpu}. */
export interface GpuOptions {
  /** Passed to `navigator.gpu.requestAdapter`. */
  powerPreference?: GPUPowerPreference;
  /** Use this adapter instead of requesting one. */
  adapter?: GPUAdapter;
  /** Most bytes kept in the buffer pool's free lists. Default 1 GiB. */
  maxPooledBytes?: number;
  /**
   * Matmul path: `"texture"` reads operands through rgba32float textures (fast on CPU
   * drivers such as lavapipe, where storage loads are slow), `"storage"` reads storage buffers
   * (register-tiled). Default `"auto"`: texture on fallback/CPU adapters, storage otherwise.
   * The environment variable `MPM_MATMUL` (`texture` | `storage`) overrides the default.
   */
  matmulPath?: "auto" | "texture" | "storage";
  /**
   * Cap on the bytes bound per storage buffer (default: the device's
   * `maxStorageBufferBindingSize`). Large matmul operands are processed in chunks below it.
   */
  maxBindingSize?: number;
}

/** Counters of what the runtime has done, for tests and benchmarks. */
export interface GpuStats {
  /** Compute dispatches recorded. */
  dispatches: number;
  /** `queue.submit` calls (steps and readbacks). */
  submits: number;
  /** Pipelines compiled. */
  pipelines: number;
  /** Bind groups created (cache misses). */
  bindGroups: number;
}

const MAX_BIND_GROUPS = 8192;
const UNIFORM_CHUNK_SLOTS = 256;

/** Limits requested from the adapter (the WebGPU defaults are far below what GPUs offer). */
const REQUESTED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxStorageBuffersPerShaderStage",
  "maxTextureDimension2D",
  "maxStorageTexturesPerShaderStage",
  "minStorageBufferOffsetAlignment",
  "minUniformBufferOffsetAlignment",
] as const;

/**
 * Acquires a WebGPU adapter and device with limits raised to what the adapter supports.
 *
 * @throws {GpuUnavailableError} when no adapter exists (with instructions to get one).
 * @example
 * ```ts ignore
 * import { requestGpu } from "@mpm/webgpu";
 * const gpu = await requestGpu();
 * console.log(gpu.adapterName);
 * gpu.destroy();
 * ```
 */
export async function requestGpu(options: GpuOptions = {}): Promise<Gpu> {
  if (!("gpu" in navigator) || !navigator.gpu) {
    throw new GpuUnavailableError("navigator.gpu is undefined in this runtime");
  }
  const adapter = options.adapter ??
    await navigator.gpu.requestAdapter({ powerPreference: options.powerPreference });
  if (!adapter) throw new GpuUnavailableError("navigator.gpu.requestAdapter() returned null");
  const requiredLimits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number | undefined>)[name];
    if (typeof v === "number") requiredLimits[name] = v;
  }
  const requiredFeatures: GPUFeatureName[] = [];
  if (adapter.features.has("shader-f16")) requiredFeatures.push("shader-f16");
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  return new Gpu(adapter, device, options);
}

/**
 * A WebGPU device plus everything needed to run kernels efficiently on it.
 *
 * Kernels record dispatches into the current step (one command encoder, one compute pass);
 * {@linkcode Gpu.submit} ends the step. Nothing is read back inside a step: {@linkcode Gpu.read}
 * submits pending work first.
 *
 * @example One step, one submit
 * ```ts ignore
 * const gpu = await requestGpu();
 * const x = gpu.upload(new Float32Array([1, 2, 3]), [3]);
 * // ... kernels record dispatches ...
 * gpu.submit();
 * console.log(await x.read());
 * ```
 */
export class Gpu {
  /** The adapter the device came from. */
  readonly adapter: GPUAdapter;
  /** The WebGPU device. */
  readonly device: GPUDevice;
  /** Human-readable adapter name (driver description or vendor/architecture). */
  readonly adapterName: string;
  /** Whether the adapter is a software/fallback implementation (e.g. lavapipe). */
  readonly isSoftware: boolean;
  /** Whether f16 tensors and shaders are available. */
  readonly hasF16: boolean;
  /** Matmul operand path chosen for this adapter. */
  readonly matmulPath: "texture" | "storage";
  /** Most bytes bound per storage buffer (device limit, or the lower cap from the options). */
  readonly maxBindingSize: number;
  /** Counters for tests and benchmarks. */
  readonly stats: GpuStats = { dispatches: 0, submits: 0, pipelines: 0, bindGroups: 0 };

  #pool: BufferPool;
  #modules = new Map<string, GPUShaderModule>();
  #layouts = new Map<KernelSpec, GPUBindGroupLayout>();
  #pipelineLayouts = new Map<KernelSpec, GPUPipelineLayout>();
  #pipelines = new Map<string, GPUComputePipeline>();
  #bindGroups = new Map<string, GPUBindGroup>();
  #ids = new WeakMap<object, number>();
  #nextId = 1;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #uniformChunks: GPUBuffer[] = [];
  #uniformData: Uint8Array<ArrayBuffer>[] = [];
  #uniformSlots = 0;
  #uniformStride: number;
  #dummies: GPUBuffer[] = [];
  #dummyTextures = new Map<number, GPUTexture>();
  #textures = new Map<string, GPUTexture[]>();
  #pendingTextures: GPUTexture[] = [];
  #errors: string[] = [];
  #lost: GpuDeviceLostError | null = null;
  #destroyed = false;

  /** Wraps an existing device; prefer {@linkcode requestGpu}. */
  constructor(adapter: GPUAdapter, device: GPUDevice, options: GpuOptions = {}) {
    this.adapter = adapter;
    this.device = device;
    const info = adapter.info;
    this.adapterName = info.description ||
      [info.vendor, info.architecture, info.device].filter(Boolean).join(" ") || "unknown";
    this.isSoftware = info.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader|warp/i.test(
      this.adapterName,
    );
    this.hasF16 = device.features.has("shader-f16");
    let path = options.matmulPath ?? "auto";
    try {
      const env = Deno.env.get("MPM_MATMUL");
      if (path === "auto" && (env === "texture" || env === "storage")) path = env;
    } catch { /* no env permission: keep the default */ }
    this.matmulPath = path === "auto" ? (this.isSoftware ? "texture" : "storage") : path;
    this.#pool = new BufferPool(device, { maxPooledBytes: options.maxPooledBytes });
    this.maxBindingSize = Math.min(
      options.maxBindingSize ?? Infinity,
      device.limits.maxStorageBufferBindingSize,
    );
    this.#uniformStride = Math.max(
      UNIFORM_SLOT_BYTES,
      device.limits.minUniformBufferOffsetAlignment,
    );
    device.addEventListener("uncapturederror", (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      if (this.#errors.length < 8) this.#errors.push(e.message);
    });
    device.lost.then((info) => {
      if (!this.#destroyed) {
        this.#lost = new GpuDeviceLostError(info.reason ?? "unknown", info.message);
      }
    });
  }

  /** The device limits in force. */
  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /** Bytes held by live pooled buffers. */
  get liveBytes(): number {
    return this.#pool.liveBytes;
  }

  /** Peak of `liveBytes` since the last {@linkcode Gpu.resetPeakBytes}. */
  get peakBytes(): number {
    return this.#pool.peakBytes;
  }

  /** Restarts peak-memory tracking. */
  resetPeakBytes(): void {
    this.#pool.resetPeak();
  }

  // ---------------------------------------------------------------- tensors

  /** Allocates an uninitialised tensor. */
  empty(shape: readonly number[], dtype: DType = "f32"): Tensor {
    this.#assertAlive();
    if (dtype === "f16" && !this.hasF16) {
      throw new TypeError("f16 tensors need the adapter feature shader-f16, which is missing");
    }
    const bytes = Math.max(4, Math.ceil((numel(shape) * DTYPE_BYTES[dtype]) / 4) * 4);
    return new Tensor(this, this.#pool.acquire(bytes), shape, dtype);
  }

  /** Allocates a tensor filled with zeros (a `clearBuffer` in the current step). */
  zeros(shape: readonly number[], dtype: DType = "f32"): Tensor {
    const t = this.empty(shape, dtype);
    this.clear(t);
    return t;
  }

  /** Uploads a typed array as a new tensor. */
  upload(
    data: Float32Array | Int32Array | Uint32Array,
    shape: readonly number[] = [data.length],
    dtype?: DType,
  ): Tensor {
    const dt: DType = dtype ??
      (data instanceof Int32Array ? "i32" : data instanceof Uint32Array ? "u32" : "f32");
    if (numel(shape) !== data.length) {
      throw new RangeError(`upload: ${data.length} values do not fill shape [${shape}]`);
    }
    const t = this.empty(shape, dt);
    this.write(t, data);
    return t;
  }

  /** Overwrites a tensor's contents from a typed array (queue-ordered before the current step). */
  write(t: Tensor, data: Float32Array | Int32Array | Uint32Array): void {
    this.#assertAlive();
    let bytes: Uint8Array<ArrayBuffer>;
    if (t.dtype === "f16") {
      const h = new Float16Array(Math.ceil(data.length / 2) * 2);
      h.set(data as unknown as ArrayLike<number>);
      bytes = new Uint8Array(h.buffer);
    } else {
      bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    }
    // Deno 2.9 panics on a zero-byte writeBuffer: nothing to write anyway.
    if (bytes.byteLength === 0) return;
    if (bytes.byteLength > t.byteLength + 3) {
      throw new RangeError(`write: ${data.length} values exceed tensor of shape [${t.shape}]`);
    }
    this.device.queue.writeBuffer(t.buffer, t.byteOffset, bytes);
  }

  /** Records a clear-to-zero of `t` into the current step. */
  clear(t: Tensor): void {
    const size = Math.ceil(t.byteLength / 4) * 4;
    if (size === 0) return;
    this.#endPass();
    this.#currentEncoder().clearBuffer(t.buffer, t.byteOffset, size);
  }

  /** Records a buffer-to-buffer copy of `src` into `dst` (same byte length) into the step. */
  copy(src: Tensor, dst: Tensor): void {
    if (src.byteLength !== dst.byteLength) {
      throw new RangeError(`copy: ${src.byteLength} bytes into ${dst.byteLength}`);
    }
    this.#endPass();
    this.#currentEncoder().copyBufferToBuffer(
      src.buffer,
      src.byteOffset,
      dst.buffer,
      dst.byteOffset,
      Math.ceil(src.byteLength / 4) * 4,
    );
  }

  /** Returns a buffer to the pool (called by `Tensor.dispose`). */
  releaseBuffer(buffer: GPUBuffer): void {
    this.#pool.release(buffer);
  }

  /**
   * Copies a tensor to the CPU. Submits pending work first; costs one GPU round trip
   * (about 11 ms on Deno), so call it every N steps, never inside a step.
   */
  async read(t: Tensor): Promise<Float32Array | Int32Array | Uint32Array> {
    if (t.disposed) throw new Error(`read: tensor [${t.shape}] was disposed`);
    this.submit();
    const size = Math.max(4, Math.ceil(t.byteLength / 4) * 4);
    const staging = this.device.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(t.buffer, t.byteOffset, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    this.stats.submits++;
    await staging.mapAsync(GPUMapMode.READ);
    const copy = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    this.#throwPendingErrors();
    switch (t.dtype) {
      case "i32":
        return new Int32Array(copy, 0, t.size);
      case "u32":
        return new Uint32Array(copy, 0, t.size);
      case "f16":
        return Float32Array.from(new Float16Array(copy, 0, t.size));
      default:
        return new Float32Array(copy, 0, t.size);
    }
  }

  // ---------------------------------------------------------------- textures

  /**
   * Returns an rgba32float texture of at least `width` x `height` texels usable both as a
   * storage texture (write) and a sampled texture. Release it with {@linkcode Gpu.releaseTexture}.
   */
  acquireTexture(width: number, height: number): GPUTexture {
    this.#assertAlive();
    const w = Math.max(8, Math.ceil(width / 8) * 8);
    const h = Math.max(64, 2 ** Math.ceil(Math.log2(height)));
    const max = this.device.limits.maxTextureDimension2D;
    if (w > max || Math.min(h, max) < height) {
      throw new RangeError(`texture ${width}x${height} exceeds maxTextureDimension2D ${max}`);
    }
    const key = `${w}x${Math.min(h, max)}`;
    const tex = this.#textures.get(key)?.pop();
    if (tex) return tex;
    return this.device.createTexture({
      size: { width: w, height: Math.min(h, max) },
      format: "rgba32float",
      usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING,
    });
  }

  /** Gives a texture back; it becomes reusable after the next submit. */
  releaseTexture(tex: GPUTexture): void {
    this.#pendingTextures.push(tex);
  }

  // ---------------------------------------------------------------- kernels

  /** Returns the compute pipeline for `spec`'s `entry` with override constants (cached). */
  pipeline(
    spec: KernelSpec,
    entry: string,
    overrides: Record<string, number> = {},
  ): GPUComputePipeline {
    const okeys = Object.keys(overrides).sort();
    const key = `${spec.shader}:${entry}:${okeys.map((k) => `${k}=${overrides[k]}`).join(",")}`;
    let p = this.#pipelines.get(key);
    if (p) return p;
    let module = this.#modules.get(spec.shader);
    if (!module) {
      module = this.device.createShaderModule({ label: spec.shader, code: SHADERS[spec.shader] });
      this.#modules.set(spec.shader, module);
    }
    p = this.device.createComputePipeline({
      label: key,
      layout: this.#pipelineLayout(spec),
      compute: { module, entryPoint: entry, constants: overrides },
    });
    this.#pipelines.set(key, p);
    this.stats.pipelines++;
    return p;
  }

  /**
   * Records one dispatch into the current step.
   *
   * @param spec the shader file's signature
   * @param entry entry point name
   * @param args uniforms, bindings (in `spec.bindings` order; `null` binds a dummy),
   *   workgroup counts, and optional override constants
   */
  dispatch(
    spec: KernelSpec,
    entry: string,
    args: {
      uniforms: Uniforms;
      bindings: readonly (Tensor | GPUTexture | null)[];
      workgroups: readonly [number, number?, number?];
      overrides?: Record<string, number>;
    },
  ): void {
    this.#assertAlive();
    if (args.bindings.length !== spec.bindings.length) {
      throw new RangeError(
        `${spec.shader}.${entry}: ${args.bindings.length} bindings given, ${spec.bindings.length} expected`,
      );
    }
    const [x, y = 1, z = 1] = args.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxWg = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new RangeError(`${spec.shader}.${entry}: grid ${x}x${y}x${z} exceeds ${maxWg}`);
    }
    const pipeline = this.pipeline(spec, entry, args.overrides);
    const { chunk, offset } = this.#uniformSlot(args.uniforms);
    const bindGroup = this.#bindGroup(spec, chunk, args.bindings);
    const pass = this.#currentPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup, [offset]);
    pass.dispatchWorkgroups(x, y, z);
    this.stats.dispatches++;
  }

  /**
   * Ends the current step: closes the compute pass, uploads the step's uniforms, and submits
   * the single command buffer. Buffers released during the step become reusable.
   */
  submit(): void {
    this.#assertAlive();
    this.#endPass();
    if (this.#encoder) {
      const used = this.#uniformSlots;
      for (let c = 0; c * UNIFORM_CHUNK_SLOTS < used; c++) {
        const slots = Math.min(UNIFORM_CHUNK_SLOTS, used - c * UNIFORM_CHUNK_SLOTS);
        this.device.queue.writeBuffer(
          this.#uniformChunks[c],
          0,
          this.#uniformData[c],
          0,
          slots * this.#uniformStride,
        );
      }
      this.device.queue.submit([this.#encoder.finish()]);
      this.stats.submits++;
      this.#encoder = null;
      this.#uniformSlots = 0;
    }
    this.#pool.afterSubmit();
    for (const tex of this.#pendingTextures) {
      const key = `${tex.width}x${tex.height}`;
      let list = this.#textures.get(key);
      if (!list) this.#textures.set(key, list = []);
      if (list.length < 64) list.push(tex);
      else tex.destroy();
    }
    this.#pendingTextures = [];
    this.#throwPendingErrors();
  }

  /** Submits pending work and waits until the GPU has finished it. */
  async sync(): Promise<void> {
    this.submit();
    await this.device.queue.onSubmittedWorkDone();
    this.#throwPendingErrors();
  }

  /** Destroys the device and every pooled resource. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#pool.trim();
    for (const list of this.#textures.values()) for (const t of list) t.destroy();
    this.device.destroy();
  }

  // ---------------------------------------------------------------- internals

  #assertAlive(): void {
    if (this.#lost) throw this.#lost;
    if (this.#destroyed) throw new Error("Gpu: used after destroy()");
  }

  #throwPendingErrors(): void {
    if (this.#lost) throw this.#lost;
    if (this.#errors.length) {
      const msg = this.#errors.join("\n");
      this.#errors = [];
      throw new GpuValidationError(msg);
    }
  }

  #currentEncoder(): GPUCommandEncoder {
    return this.#encoder ??= this.device.createCommandEncoder();
  }

  #currentPass(): GPUComputePassEncoder {
    return this.#pass ??= this.#currentEncoder().beginComputePass();
  }

  #endPass(): void {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
  }

  #id(o: object): number {
    let id = this.#ids.get(o);
    if (id === undefined) this.#ids.set(o, id = this.#nextId++);
    return id;
  }

  #uniformSlot(u: Uniforms): { chunk: number; offset: number } {
    const slot = this.#uniformSlots++;
    const chunk = Math.floor(slot / UNIFORM_CHUNK_SLOTS);
    if (chunk >= this.#uniformChunks.length) {
      this.#uniformChunks.push(this.device.createBuffer({
        size: UNIFORM_CHUNK_SLOTS * this.#uniformStride,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      }));
      this.#uniformData.push(new Uint8Array(UNIFORM_CHUNK_SLOTS * this.#uniformStride));
    }
    const offset = (slot % UNIFORM_CHUNK_SLOTS) * this.#uniformStride;
    this.#uniformData[chunk].set(u.bytes(), offset);
    return { chunk, offset };
  }

  #dummy(i: number): GPUBuffer {
    while (this.#dummies.length <= i) {
      this.#dummies.push(this.device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE }));
    }
    return this.#dummies[i];
  }

  #dummyTexture(i: number): GPUTexture {
    let t = this.#dummyTextures.get(i);
    if (!t) {
      t = this.device.createTexture({
        size: { width: 1, height: 1 },
        format: "rgba32float",
        usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING,
      });
      this.#dummyTextures.set(i, t);
    }
    return t;
  }

  #bindGroupLayout(spec: KernelSpec): GPUBindGroupLayout {
    let layout = this.#layouts.get(spec);
    if (layout) return layout;
    const entries: GPUBindGroupLayoutEntry[] = [{
      binding: 0,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: "uniform", hasDynamicOffset: true, minBindingSize: 0 },
    }];
    spec.bindings.forEach((kind, i) => {
      const e: GPUBindGroupLayoutEntry = { binding: i + 1, visibility: GPUShaderStage.COMPUTE };
      if (kind === "read") e.buffer = { type: "read-only-storage" };
      else if (kind === "rw") e.buffer = { type: "storage" };
      else if (kind === "texture") e.texture = { sampleType: "unfilterable-float" };
      else e.storageTexture = { access: "write-only", format: "rgba32float" };
      entries.push(e);
    });
    layout = this.device.createBindGroupLayout({ label: spec.shader, entries });
    this.#layouts.set(spec, layout);
    return layout;
  }

  #pipelineLayout(spec: KernelSpec): GPUPipelineLayout {
    let pl = this.#pipelineLayouts.get(spec);
    if (!pl) {
      pl = this.device.createPipelineLayout({ bindGroupLayouts: [this.#bindGroupLayout(spec)] });
      this.#pipelineLayouts.set(spec, pl);
    }
    return pl;
  }

  #bindGroup(
    spec: KernelSpec,
    chunk: number,
    bindings: readonly (Tensor | GPUTexture | null)[],
  ): GPUBindGroup {
    let key = `${spec.shader}|${chunk}`;
    for (const b of bindings) {
      if (b === null) key += "|-";
      else if (b instanceof Tensor) {
        if (b.disposed) throw new Error(`${spec.shader}: binding a disposed tensor [${b.shape}]`);
        key += `|${this.#id(b.buffer)}:${b.byteOffset}:${b.byteLength}`;
      } else key += `|t${this.#id(b)}`;
    }
    let bg = this.#bindGroups.get(key);
    if (bg) {
      this.#bindGroups.delete(key);
      this.#bindGroups.set(key, bg);
      return bg;
    }
    const entries: GPUBindGroupEntry[] = [{
      binding: 0,
      resource: { buffer: this.#uniformChunks[chunk], offset: 0, size: UNIFORM_SLOT_BYTES },
    }];
    bindings.forEach((b, i) => {
      const kind = spec.bindings[i];
      if (kind === "texture" || kind === "storage-texture") {
        if (b instanceof Tensor) {
          throw new TypeError(`${spec.shader}: binding ${i + 1} needs a texture`);
        }
        entries.push({ binding: i + 1, resource: (b ?? this.#dummyTexture(i)).createView() });
      } else if (b === null || (b instanceof Tensor && b.byteLength === 0)) {
        entries.push({ binding: i + 1, resource: { buffer: this.#dummy(i) } });
      } else if (b instanceof Tensor) {
        const max = this.maxBindingSize;
        if (b.byteLength > max) {
          throw new ShapeError(
            `${spec.shader}: tensor [${b.shape}] is ${b.byteLength} bytes, above the ${max}-byte ` +
              "storage binding limit of this adapter (maxStorageBufferBindingSize); use a smaller " +
              "batch, or a GPU with a larger limit",
          );
        }
        entries.push({
          binding: i + 1,
          resource: {
            buffer: b.buffer,
            offset: b.byteOffset,
            size: Math.ceil(b.byteLength / 4) * 4,
          },
        });
      } else {
        throw new TypeError(`${spec.shader}: binding ${i + 1} needs a buffer`);
      }
    });
    bg = this.device.createBindGroup({ layout: this.#bindGroupLayout(spec), entries });
    this.stats.bindGroups++;
    this.#bindGroups.set(key, bg);
    if (this.#bindGroups.size > MAX_BIND_GROUPS) {
      this.#bindGroups.delete(this.#bindGroups.keys().next().value!);
    }
    return bg;
  }
}
