/**
 * **@mpm/webgpu** trains foundation models for particle-physics jets by masked particle
 * modelling (MPMv2), with every tensor operation a hand-written WGSL kernel (forward and
 * backward) on WebGPU: Deno's built-in WebGPU, a browser's, or any `GPUDevice`.
 *
 * Layers, from the bottom up: the GPU runtime (`Gpu`, `Tensor`), kernels, autograd (`Tape`,
 * `ParameterStore`, `ops`), `nn` layers, and optimisers.
 *
 * @example Train a linear layer for one step
 * ```ts ignore
 * import { AdamW, ops, ParameterStore, requestGpu, Tape } from "@mpm/webgpu";
 *
 * const gpu = await requestGpu();
 * const store = new ParameterStore(gpu);
 * const w = store.create("fc.weight", [1, 2], new Float32Array([0, 0]));
 * store.finalize();
 * const opt = new AdamW(store, { lr: 0.1 });
 *
 * const x = gpu.upload(new Float32Array([1, 2]), [1, 2]);
 * const y = gpu.upload(new Float32Array([3]), [1, 1]);
 * store.zeroGrad();
 * const tape = new Tape(gpu);
 * const loss = ops.pointwiseLoss(tape, "mse", ops.linear(tape, x, tape.param(w)), y);
 * tape.backward(loss);
 * opt.step();
 * const lossValue = (await loss.read())[0]; // readback flushes the step (do it every N steps)
 * tape.dispose();
 * gpu.submit();
 * console.log(lossValue); // 9
 * ```
 *
 * @module
 */
export * from "./src/gpu/mod.ts";
export * from "./src/kernels/mod.ts";
export * from "./src/autograd/mod.ts";
export * from "./src/nn/mod.ts";
export * from "./src/optim/mod.ts";
export * from "./src/data/mod.ts";
export * from "./src/eval/mod.ts";
export * from "./src/mpm/mod.ts";
export * from "./src/train/mod.ts";
export * from "./src/heads/mod.ts";
