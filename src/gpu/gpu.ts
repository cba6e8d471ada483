/**
 * The GPU runtime: device acquisition with adapter limits, pipeline and bind-group caches,
 * pooled buffers and textures, a per-step uniform arena, and one command encoder (one compute
 * pass) per step that is submitted once.
 *
 * @module
 */
import { BindGroupCache } from "./bind_group_cache.ts";
import { BufferPool } from "./buffer_pool.ts";
import { GpuDeviceLostError, GpuValidationError } from "./errors.ts";
import type { KernelSpec, Uniforms } from "./kernel_spec.ts";
import { PipelineCache } from "./pipeline_cache.ts";
import { StepEncoder } from "./step_encoder.ts";
import { type DType, DTYPE_BYTES, numel, Tensor } from "./tensor.ts";
import { TexturePool } from "./texture_pool.ts";
import { KernelProfiler } from "./profiler.ts";
import { UniformArena } from "./uniform_arena.ts";

export { type GpuOptions, type GpuStats, requestGpu } from "./request.ts";
import type { GpuOptions, GpuStats } from "./request.ts";
import { checkElements, checkTypedArray } from "./checks.ts";

/**
 * A WebGPU device plus everything needed to run kernels efficiently on it. It holds the pieces
 * and keeps one public API: the buffer pool (`buffer_pool.ts`), the pipeline cache
 * (`pipeline_cache.ts`), the bind-group cache (`bind_group_cache.ts`), the per-step uniform
 * arena (`uniform_arena.ts`), the texture pool (`texture_pool.ts`) and the step encoder
 * (`step_encoder.ts`).
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
  /** Precision of the linear layers' matmul operands (see {@linkcode GpuOptions.precision}). */
  readonly precision: "f32" | "f16";
  /** Most bytes bound per storage buffer (device limit, or the lower cap from the options). */
  readonly maxBindingSize: number;
  #counters = { dispatches: 0, submits: 0 };
  #submitHold: string | null = null;

  #pool: BufferPool;
  #pipelines: PipelineCache;
  #bindGroups: BindGroupCache;
  #uniforms: UniformArena;
  #textures: TexturePool;
  #step: StepEncoder;
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
    let precision = options.precision;
    try {
      const env = Deno.env.get("MPM_PRECISION");
      if (!precision && (env === "f32" || env === "f16")) precision = env;
    } catch { /* no env permission: keep the default */ }
    this.precision = precision ?? "f32";
    if (this.precision === "f16" && !this.hasF16) {
      throw new Error(
        `precision f16 needs the adapter feature shader-f16, which ${this.adapterName} lacks; ` +
          "use precision f32 (unset MPM_PRECISION or pass --precision f32)",
      );
    }
    this.#pool = new BufferPool(device, { maxPooledBytes: options.maxPooledBytes });
    this.maxBindingSize = Math.min(
      options.maxBindingSize ?? Infinity,
      device.limits.maxStorageBufferBindingSize,
    );
    this.#pipelines = new PipelineCache(device);
    this.#bindGroups = new BindGroupCache(device, this.#pipelines, this.maxBindingSize);
    this.#uniforms = new UniformArena(device);
    this.#textures = new TexturePool(device);
    this.#step = new StepEncoder(device);
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

  /** Counters for tests and benchmarks. */
  get stats(): GpuStats {
    return {
      ...this.#counters,
      pipelines: this.#pipelines.compiled,
      bindGroups: this.#bindGroups.created,
    };
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

  /**
   * Peak bytes of every pooled buffer the device held (live, free and recycled) since the last
   * {@linkcode Gpu.resetPeakBytes}: the pool's real footprint.
   */
  get peakAllocatedBytes(): number {
    return this.#pool.peakAllocatedBytes;
  }

  /** Restarts peak-memory tracking. */
  resetPeakBytes(): void {
    this.#pool.resetPeak();
  }

  // ---------------------------------------------------------------- tensors

  /**
   * Allocates an uninitialised tensor. Its buffer may be one released earlier in the step being
   * recorded (kernels run in recording order); {@linkcode Gpu.write} handles that case.
   */
  empty(shape: readonly number[], dtype: DType = "f32"): Tensor {
    return this.#alloc(shape, dtype, false);
  }

  #alloc(shape: readonly number[], dtype: DType, host: boolean): Tensor {
    this.#assertAlive();
    if (dtype === "f16" && !this.hasF16) {
      throw new TypeError("f16 tensors need the adapter feature shader-f16, which is missing");
    }
    const bytes = Math.max(4, Math.ceil((numel(shape) * DTYPE_BYTES[dtype]) / 4) * 4);
    return new Tensor(this, this.#pool.acquire(bytes, { host }), shape, dtype);
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
    checkTypedArray("upload", data);
    const dt: DType = dtype ??
      (data instanceof Int32Array ? "i32" : data instanceof Uint32Array ? "u32" : "f32");
    if (numel(shape) !== data.length) {
      throw new RangeError(`upload: ${data.length} values do not fill shape [${shape}]`);
    }
    const t = this.#alloc(shape, dt, true);
    this.write(t, data);
    return t;
  }

  /**
   * Overwrites a tensor's contents from a typed array. The write lands before the current step's
   * dispatches (queue order), except into a buffer recycled within that step, where it is
   * recorded as a copy at this point of the step, after the dispatches that read the buffer's
   * previous contents.
   */
  write(t: Tensor, data: Float32Array | Int32Array | Uint32Array): void {
    this.#assertAlive();
    checkTypedArray("write", data);
    if (t.disposed) throw new Error(`write: tensor [${t.shape}] was disposed`);
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
    if (this.#pool.recycledInStep(t.buffer)) {
      const staging = this.#alloc([Math.ceil(bytes.byteLength / 4)], "u32", true);
      this.device.queue.writeBuffer(staging.buffer, 0, bytes);
      this.#step.encoder().copyBufferToBuffer(
        staging.buffer,
        0,
        t.buffer,
        t.byteOffset,
        Math.ceil(bytes.byteLength / 4) * 4,
      );
      staging.dispose();
      return;
    }
    this.device.queue.writeBuffer(t.buffer, t.byteOffset, bytes);
  }

  /** Records a clear-to-zero of `t` into the current step. */
  clear(t: Tensor): void {
    if (t.disposed) throw new Error(`clear: tensor [${t.shape}] was disposed`);
    const size = Math.ceil(t.byteLength / 4) * 4;
    if (size === 0) return;
    this.#step.encoder().clearBuffer(t.buffer, t.byteOffset, size);
  }

  /** Records a buffer-to-buffer copy of `src` into `dst` (same byte length) into the step. */
  copy(src: Tensor, dst: Tensor): void {
    if (src.disposed || dst.disposed) {
      throw new Error(`copy: tensor [${src.disposed ? src.shape : dst.shape}] was disposed`);
    }
    if (src.byteLength !== dst.byteLength) {
      throw new RangeError(`copy: ${src.byteLength} bytes into ${dst.byteLength}`);
    }
    this.#step.encoder().copyBufferToBuffer(
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
    this.#counters.submits++;
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

  /**
   * Starts timing every dispatch on the device (timestamp queries; a pass per dispatch while
   * open). Needs the adapter feature `timestamp-query`.
   *
   * @returns the profile; `await profile.stop()` gives per-kernel device time
   * @example
   * ```ts ignore
   * const profile = gpu.startProfile();
   * step();
   * gpu.submit();
   * console.table((await profile.stop()).kernels);
   * ```
   */
  startProfile(): KernelProfiler {
    this.#assertAlive();
    if (this.#step.profiler) throw new Error("startProfile: a profile is already open");
    this.submit(); // earlier work is not part of the profile
    const p = new KernelProfiler(this.device, () => {
      this.submit();
      this.#step.profiler = null;
    });
    this.#step.profiler = p;
    return p;
  }

  // ---------------------------------------------------------------- textures

  /**
   * Returns an rgba32float texture of at least `width` x `height` texels usable both as a
   * storage texture (write) and a sampled texture. Release it with {@linkcode Gpu.releaseTexture}.
   */
  acquireTexture(width: number, height: number): GPUTexture {
    this.#assertAlive();
    return this.#textures.acquire(width, height);
  }

  /** Gives a texture back; it becomes reusable after the next submit. */
  releaseTexture(tex: GPUTexture): void {
    this.#textures.release(tex);
  }

  // ---------------------------------------------------------------- kernels

  /** Returns the compute pipeline for `spec`'s `entry` with override constants (cached). */
  pipeline(
    spec: KernelSpec,
    entry: string,
    overrides: Record<string, number> = {},
  ): GPUComputePipeline {
    return this.#pipelines.pipeline(spec, entry, overrides);
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
    checkElements(spec, entry, args.bindings);
    const pipeline = this.#pipelines.pipeline(spec, entry, args.overrides);
    const { chunk, buffer, offset } = this.#uniforms.slot(args.uniforms);
    const bindGroup = this.#bindGroups.get(spec, chunk, buffer, args.bindings);
    const pass = this.#step.pass(this.#step.profiler ? `${spec.shader}.${entry}` : "");
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup, [offset]);
    pass.dispatchWorkgroups(x, y, z);
    this.#counters.dispatches++;
  }

  /**
   * Ends the current step: closes the compute pass, uploads the step's uniforms, and submits
   * the single command buffer. Buffers released during the step become reusable.
   */
  submit(): void {
    this.#assertAlive();
    if (this.#submitHold) throw new Error(`submit: ${this.#submitHold}`);
    const cmd = this.#step.finish();
    if (cmd) {
      this.#uniforms.upload();
      this.device.queue.submit([cmd]);
      this.#counters.submits++;
    }
    this.#pool.afterSubmit();
    this.#textures.afterSubmit();
    this.#throwPendingErrors();
  }

  /**
   * While `reason` is set, {@linkcode Gpu.submit} (and so {@linkcode Gpu.read}) throws it: the
   * work recorded meanwhile must not reach the device before the host has written something it
   * reads (data parallelism's averaged gradients, written when their exchange ends). `null`
   * lifts the hold.
   *
   * @param reason what the device waits for, or null
   * @example
   * ```ts ignore
   * gpu.holdSubmits("the gradient exchange is in flight");
   * opt.step();                 // recorded, reads the gradients
   * gpu.write(grads, averaged); // lands before the next submit
   * gpu.holdSubmits(null);
   * gpu.submit();
   * ```
   */
  holdSubmits(reason: string | null): void {
    this.#submitHold = reason;
  }

  /** Submits pending work and waits until the GPU has finished it. */
  async sync(): Promise<void> {
    this.submit();
    await this.device.queue.onSubmittedWorkDone();
    this.#throwPendingErrors();
  }

  /**
   * Submits pending work, then destroys the free pooled buffers and textures, handing their
   * memory back to the driver (tensors in use are untouched).
   *
   * @example
   * ```ts ignore
   * store.dispose();
   * gpu.trim();
   * ```
   */
  trim(): void {
    this.submit();
    this.#pool.trim();
    this.#textures.destroy();
  }

  /** Destroys the device and every pooled resource. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#pool.trim();
    this.#textures.destroy();
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
}
