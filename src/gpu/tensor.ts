/**
 * GPU tensors: a storage buffer (or a view into one), a shape and a dtype.
 *
 * @module
 */
import { ShapeError } from "./errors.ts";
import type { Gpu } from "./gpu.ts";

/** Element types a tensor can hold. `f16` needs the adapter feature `shader-f16`. */
export type DType = "f32" | "i32" | "u32" | "f16";

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = { f32: 4, i32: 4, u32: 4, f16: 2 };

/** The typed array a tensor of each dtype reads back as. */
export type TypedArrayFor<D extends DType> = D extends "f32" ? Float32Array
  : D extends "i32" ? Int32Array
  : D extends "u32" ? Uint32Array
  : Float32Array;

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * A tensor living in GPU memory. Create tensors through a {@linkcode Gpu}
 * (`gpu.upload`, `gpu.empty`, `gpu.zeros`), read them with {@linkcode Tensor.read}, free them
 * with {@linkcode Tensor.dispose}. A view (`owned === false`) shares another tensor's buffer.
 *
 * @example Upload, read back, dispose
 * ```ts ignore
 * const gpu = await requestGpu();
 * const t = gpu.upload(new Float32Array([1, 2, 3, 4]), [2, 2]);
 * console.log(await t.read()); // Float32Array [1, 2, 3, 4]
 * t.dispose();
 * ```
 */
export class Tensor {
  /** The runtime that owns the buffer. */
  readonly gpu: Gpu;
  /** Backing storage buffer (may be larger than the tensor: pooled buckets, arenas). */
  readonly buffer: GPUBuffer;
  /** Byte offset of element 0 inside `buffer`. */
  readonly byteOffset: number;
  /** Row-major shape. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
  /** Number of elements. */
  readonly size: number;
  /** Whether disposing this tensor returns its buffer to the pool. */
  readonly owned: boolean;
  /** For a view made by {@linkcode Tensor.reshape}: the tensor it reshapes (same elements). */
  readonly viewOf?: Tensor;
  #disposed = false;
  #base?: Tensor;

  /** Wraps a buffer; normally called by {@linkcode Gpu} rather than by users. */
  constructor(
    gpu: Gpu,
    buffer: GPUBuffer,
    shape: readonly number[],
    dtype: DType,
    options: { byteOffset?: number; owned?: boolean; viewOf?: Tensor; base?: Tensor } = {},
  ) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) {
        throw new ShapeError(
          `tensor shape [${shape}]: every size must be a non-negative integer, got ${d}`,
        );
      }
    }
    this.gpu = gpu;
    this.buffer = buffer;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = numel(shape);
    this.byteOffset = options.byteOffset ?? 0;
    this.owned = options.owned ?? true;
    this.viewOf = options.viewOf;
    this.#base = options.base ?? options.viewOf;
  }

  /** Size in bytes of the tensor's elements (not of the whole buffer). */
  get byteLength(): number {
    return this.size * DTYPE_BYTES[this.dtype];
  }

  /** Whether {@linkcode Tensor.dispose} has been called (on it, or on the tensor it views). */
  get disposed(): boolean {
    return this.#disposed || (this.#base?.disposed ?? false);
  }

  /** Returns a non-owning tensor with a new shape over the same elements. */
  reshape(shape: readonly number[]): Tensor {
    const resolved = [...shape];
    const neg = resolved.indexOf(-1);
    if (neg >= 0) resolved[neg] = this.size / numel(resolved.filter((_, i) => i !== neg));
    if (numel(resolved) !== this.size) {
      throw new RangeError(`reshape: cannot view [${this.shape}] as [${shape}]`);
    }
    return new Tensor(this.gpu, this.buffer, resolved, this.dtype, {
      byteOffset: this.byteOffset,
      owned: false,
      viewOf: this,
    });
  }

  /**
   * Moves this tensor's buffer into a new tensor of another shape and marks this one disposed
   * (without releasing the buffer): for a fresh result that is reshaped before it is handed on,
   * so that disposing the result returns the buffer to the pool. (A {@linkcode Tensor.reshape}
   * view never releases its base: a reshaped temporary would otherwise wait for the garbage
   * collector.) A non-owning tensor gives a plain view.
   *
   * @example
   * ```ts ignore
   * const y = matmul(a, b).into([B, N, D]); // y owns the matmul output
   * ```
   */
  into(shape: readonly number[]): Tensor {
    if (!this.owned) return this.reshape(shape);
    const view = this.reshape(shape);
    if (this.#disposed) throw new Error("into: tensor already disposed");
    this.#disposed = true;
    return new Tensor(this.gpu, this.buffer, view.shape, this.dtype, {
      byteOffset: this.byteOffset,
      owned: true,
    });
  }

  /**
   * Returns a non-owning view of `numel(shape)` elements starting at element `offset`.
   * (Binding a view needs `offset * bytes` aligned to `minStorageBufferOffsetAlignment`;
   * copies need 4-byte alignment only.)
   */
  view(shape: readonly number[], offset = 0): Tensor {
    if (offset < 0 || offset + numel(shape) > this.size) {
      throw new RangeError(`view: [${shape}] at ${offset} exceeds tensor of ${this.size}`);
    }
    return new Tensor(this.gpu, this.buffer, shape, this.dtype, {
      byteOffset: this.byteOffset + offset * DTYPE_BYTES[this.dtype],
      owned: false,
      base: this,
    });
  }

  /** Copies the tensor to the CPU (flushes pending GPU work first). */
  read(): Promise<Float32Array | Int32Array | Uint32Array> {
    return this.gpu.read(this);
  }

  /** Returns the buffer to the pool (owned tensors) and marks the tensor unusable. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.owned) this.gpu.releaseBuffer(this.buffer);
  }
}
