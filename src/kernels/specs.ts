/**
 * Binding signatures of every shader file (see each `.wgsl` header for the meaning).
 *
 * @module
 */
import type { KernelSpec } from "../gpu/kernel_spec.ts";

/** `shaders/elementwise.wgsl`: x, y, z, out. */
export const ELEMENTWISE: KernelSpec = {
  shader: "elementwise",
  bindings: ["read", "read", "read", "rw"],
};
/** `shaders/reduce.wgsl`: x, y, partial, out. */
export const REDUCE: KernelSpec = { shader: "reduce", bindings: ["read", "read", "rw", "rw"] };
/** `shaders/matmul.wgsl`: a, b, bias, c. */
export const MATMUL: KernelSpec = { shader: "matmul", bindings: ["read", "read", "read", "rw"] };
/** `shaders/matmul_swiglu.wgsl`: x, w, bias, ab, h. */
export const MATMUL_SWIGLU: KernelSpec = {
  shader: "matmul_swiglu",
  bindings: ["read", "read", "read", "rw", "rw"],
};
/** `shaders/half.wgsl`: a (f16), b (f16), x (f32), c (f32), h (f16). */
export const HALF: KernelSpec = {
  shader: "half",
  bindings: ["read", "read", "read", "rw", "rw"],
};
/** `shaders/matmul_tex.wgsl`: src, bias, c, dst texture, A texture, B texture. */
export const MATMUL_TEX: KernelSpec = {
  shader: "matmul_tex",
  bindings: ["read", "read", "rw", "storage-texture", "texture", "texture"],
};
/** `shaders/layernorm.wgsl`: x, gamma, beta, dy, out, mean, rstd. */
export const LAYERNORM: KernelSpec = {
  shader: "layernorm",
  bindings: ["read", "read", "read", "read", "rw", "rw", "rw"],
};
/** `shaders/attention_tex.wgsl`: q, valid, dout, lse, delta, out, K, V, Q and dout textures. */
export const ATTENTION_TEX: KernelSpec = {
  shader: "attention_tex",
  bindings: [
    "read",
    "read",
    "read",
    "rw",
    "read",
    "rw",
    "texture",
    "texture",
    "texture",
    "texture",
  ],
  constants: ["HD4"],
};
/** `shaders/attention.wgsl`: q, k, v, valid, dout, lse, delta, out. */
export const ATTENTION: KernelSpec = {
  shader: "attention",
  bindings: ["read", "read", "read", "read", "read", "rw", "read", "rw"],
  constants: ["HD4"],
};
/** `shaders/cross_entropy.wgsl`: logits, target, valid, cw, g, total, stats, out. */
export const CROSS_ENTROPY: KernelSpec = {
  shader: "cross_entropy",
  bindings: ["read", "read", "read", "read", "read", "read", "rw", "rw"],
};
/** `shaders/pointwise_loss.wgsl`: pred, target, valid, g, total, stats, out. */
export const POINTWISE_LOSS: KernelSpec = {
  shader: "pointwise_loss",
  bindings: ["read", "read", "read", "read", "read", "rw", "rw"],
};
/** `shaders/movement.wgsl`: src, idx, mask, out, rank, fwd, inv, count. */
export const MOVEMENT: KernelSpec = {
  shader: "movement",
  bindings: ["read", "read", "read", "rw", "rw", "rw", "rw", "rw"],
};
/** `shaders/random.wgsl`: out. */
export const RANDOM: KernelSpec = { shader: "random", bindings: ["rw"] };
/** `shaders/adamw.wgsl`: grad, sumsq, param, m, v. */
export const ADAMW: KernelSpec = { shader: "adamw", bindings: ["read", "read", "rw", "rw", "rw"] };
/** `shaders/kmeans.wgsl`: x, centroids, order, offsets, assign, dist, updated. */
export const KMEANS: KernelSpec = {
  shader: "kmeans",
  bindings: ["read", "read", "read", "read", "rw", "rw", "rw"],
};
/** `shaders/spline.wgsl`: x, knots, gy, gld, out, logdet, gknots. */
export const SPLINE: KernelSpec = {
  shader: "spline",
  bindings: ["read", "read", "read", "read", "rw", "rw", "rw"],
};

/** `shaders/spline_knots.wgsl`: raw, gknots, out. */
export const SPLINE_KNOTS: KernelSpec = {
  shader: "spline_knots",
  bindings: ["read", "read", "rw"],
};

/** `shaders/modulate.wgsl`: x, s, aux, out, out2. */
export const MODULATE: KernelSpec = {
  shader: "modulate",
  bindings: ["read", "read", "read", "rw", "rw"],
};

/** `shaders/vq_ema.wgsl`: z, assign, size, avg, codebook. */
export const VQ_EMA: KernelSpec = {
  shader: "vq_ema",
  bindings: ["read", "read", "rw", "rw", "rw"],
};
