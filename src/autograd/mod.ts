/**
 * Autograd: named parameters in per-group arenas, the tape, and differentiable ops.
 *
 * @example
 * ```ts ignore
 * import { ops, ParameterStore, Tape } from "@mpm/webgpu/autograd";
 * const store = new ParameterStore(gpu);
 * const w = store.create("fc.weight", [1, 2], new Float32Array([0.5, -0.5]));
 * store.finalize();
 * const tape = new Tape(gpu);
 * const loss = ops.pointwiseLoss(tape, "mse", ops.linear(tape, x, tape.param(w)), y);
 * tape.backward(loss); // w.grad now holds dloss/dw
 * ```
 *
 * @module
 */
export * as ops from "./ops.ts";
export * from "./parameters.ts";
export * from "./tape.ts";
export * from "./weights.ts";
