/**
 * Binding signatures of every shader file (see each `.wgsl` header for the meaning).
 *
 * @module
 */
import type { KernelSpec } from "../gpu/kernel_spec.ts";

/** `shaders/elementwise.wgsl`: x, y, z, out. */
export const ELEMENTWISE: KernelSpec = { shader: "elementwise", bindings: ["read", "read", "read", "rw"] };
/** `shaders/reduce.wgsl`: x, y, partial, out. */
export const REDUCE: KernelSpec = { shader: "reduce", bindings: ["read", "read", "rw", "rw"] };
/** `shaders/matmul.wgsl`: a, b, bias, c. */
export const MATMUL: KernelSpec = { shader: "matmul", bindings: ["read", "read", "read", "rw"] };
/** `shaders/matmul_tex.wgsl`: src, bias, c, dst texture, A texture, B texture. */
export const MATMUL_TEX: KernelSpec = {
  shader: "matmul_tex",
  bindings: ["read", "read", "rw", "storage-texture", "texture", "texture"],
};
