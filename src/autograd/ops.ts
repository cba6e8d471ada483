/**
 * Differentiable operations: each runs forward kernels now and records its backward on the
 * tape. Shapes follow PyTorch conventions (Linear weight is (out, in)); masks are u32 with
 * 1 = real particle. One file per family under `ops/`.
 *
 * @module
 */
export * from "./ops/dense.ts";
export * from "./ops/pointwise.ts";
export * from "./ops/attention.ts";
export * from "./ops/movement.ts";
export * from "./ops/losses.ts";
export * from "./ops/spline.ts";
