/**
 * Typed signatures of WGSL shader files: which bindings a shader declares, in what order.
 *
 * @module
 */
import type { ShaderName } from "../_shaders.gen.ts";

export type { ShaderName };

/**
 * Kind of a binding after the uniform block (binding 0, always a `var<uniform>` with a dynamic
 * offset): a read-only storage buffer, a read-write storage buffer, a sampled `texture_2d<f32>`
 * (rgba32float, unfilterable) or a write-only `texture_storage_2d<rgba32float, write>`.
 */
export type BindingKind = "read" | "rw" | "texture" | "storage-texture";

/**
 * The signature of one WGSL file: its name in `shaders/` and its bindings 1..n. All entry
 * points in a file share this layout; each uses a subset of it.
 *
 * @example
 * ```ts
 * import type { KernelSpec } from "@mpm/webgpu/gpu";
 * const spec: KernelSpec = { shader: "elementwise", bindings: ["read", "read", "read", "rw"] };
 * console.assert(spec.bindings.length === 4);
 * ```
 */
export interface KernelSpec {
  /** File name in `shaders/` without `.wgsl`. */
  readonly shader: ShaderName;
  /** Bindings 1..n of group 0, in order (binding 0 is the uniform block). */
  readonly bindings: readonly BindingKind[];
  /**
   * Module-scope `const NAME: u32 = ...;` declarations that a pipeline specialises: a value
   * given under that name in a dispatch's `overrides` is compiled into the shader text (one
   * module per value), where an `override` could not go, e.g. the length of a private array.
   */
  readonly constants?: readonly string[];
}

/** Size in bytes of one uniform slot; every kernel's uniform struct must fit. */
export const UNIFORM_SLOT_BYTES = 256;

/**
 * Packs scalar uniform fields in WGSL struct order (all fields are 4-byte scalars).
 *
 * @example
 * ```ts
 * import { Uniforms } from "@mpm/webgpu/gpu";
 * const u = new Uniforms().u32(3).f32(0.5).i32(-1);
 * console.assert(u.byteLength === 12);
 * ```
 */
export class Uniforms {
  #view = new DataView(new ArrayBuffer(UNIFORM_SLOT_BYTES));
  #n = 0;

  /** Appends a `u32` field. */
  u32(v: number): this {
    this.#view.setUint32(this.#n, v >>> 0, true);
    this.#n += 4;
    return this;
  }

  /** Appends an `i32` field. */
  i32(v: number): this {
    this.#view.setInt32(this.#n, v | 0, true);
    this.#n += 4;
    return this;
  }

  /** Appends an `f32` field. */
  f32(v: number): this {
    this.#view.setFloat32(this.#n, v, true);
    this.#n += 4;
    return this;
  }

  /** Bytes written so far. */
  get byteLength(): number {
    return this.#n;
  }

  /** The packed bytes (a copy, `byteLength` long). */
  bytes(): Uint8Array {
    return new Uint8Array(this.#view.buffer, 0, this.#n);
  }
}
