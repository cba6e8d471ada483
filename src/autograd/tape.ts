/**
 * The autograd tape. Differentiable ops run their forward kernels immediately (recording
 * dispatches into the current step) and push a backward closure; {@linkcode Tape.backward}
 * replays them in reverse, appending the backward dispatches to the same step. Gradients of a
 * tensor used twice accumulate; gradients of parameters accumulate into their group's
 * gradient arena (zeroed at the start of each step).
 *
 * Ownership: the tape owns every op output (`record`, `keep`) until {@linkcode Tape.dispose},
 * and every gradient it stores. The gradient of an op's output is disposed as soon as that op's
 * backward has run (nothing else reads it), unless the output was {@linkcode Tape.watch}ed, so
 * the backward pass holds only the gradients of the activations still to be visited and the
 * buffer pool reuses the rest within the step.
 *
 * @module
 */
import { accumulate } from "../kernels/elementwise.ts";
import type { Gpu } from "../gpu/gpu.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { Parameter } from "./parameters.ts";

/** Backward closure of a recorded op: receives its outputs' gradients (undefined if none). */
export type BackwardFn = (grads: (Tensor | undefined)[]) => void;

interface Node {
  outputs: Tensor[];
  backward: BackwardFn;
}

/**
 * Records one forward pass for backpropagation and owns its intermediate tensors.
 *
 * @example One training step
 * ```ts ignore
 * store.zeroGrad();
 * const tape = new Tape(gpu);
 * const loss = mseLoss(tape, model.forward(tape, x), y);
 * tape.backward(loss);
 * optimizer.step();
 * tape.dispose();   // before submit: buffers are reusable by the next step
 * gpu.submit();     // one submit per step
 * ```
 */
export class Tape {
  /** The device every tensor lives on. */
  readonly gpu: Gpu;
  #nodes: Node[] = [];
  #grads = new Map<Tensor, Tensor>();
  #requires = new WeakSet<Tensor>();
  #watched = new WeakSet<Tensor>();
  #stored = new Set<Tensor>();
  #params = new Map<Tensor, Parameter>();
  #owned: Tensor[] = [];
  #done = false;

  /** Starts an empty tape. */
  constructor(gpu: Gpu) {
    this.gpu = gpu;
  }

  /** The value tensor of a parameter, marked as needing a gradient unless its group is frozen. */
  param(p: Parameter): Tensor {
    const t = p.value;
    if (!p.group.frozen) {
      this.#requires.add(t);
      this.#params.set(t, p);
    }
    return t;
  }

  /** Marks an input tensor as needing a gradient (readable with {@linkcode Tape.grad}). */
  watch(t: Tensor): Tensor {
    this.#requires.add(t);
    this.#watched.add(t);
    return t;
  }

  /** Whether gradients flow into `t`. */
  requiresGrad(t: Tensor): boolean {
    return this.#tracks(t);
  }

  /**
   * Whether `t` needs a gradient. A `reshape` view of a tracked tensor is linked to it here
   * (a pass-through node), so `x.reshape(...)` never silently cuts the graph.
   */
  #tracks(t: Tensor): boolean {
    if (this.#requires.has(t)) return true;
    const base = t.viewOf;
    if (!base || !this.#tracks(base)) return false;
    this.#requires.add(t);
    this.#nodes.push({
      outputs: [t],
      backward: ([g]) => this.addGradShared(base, g!.reshape(base.shape)),
    });
    return true;
  }

  /** Transfers ownership of an intermediate to the tape (disposed by {@linkcode Tape.dispose}). */
  keep<T extends Tensor>(t: T): T {
    this.#owned.push(t);
    return t;
  }

  /**
   * Records an op. `outputs` need gradients when any input does; `backward` receives the
   * outputs' gradients (undefined where none reached them) and calls {@linkcode Tape.addGrad}.
   */
  record(inputs: readonly Tensor[], outputs: Tensor[], backward: BackwardFn): void {
    for (const o of outputs) this.keep(o);
    // Check every input (no short-circuit): this links reshape views before backward runs.
    const tracked = inputs.map((t) => this.#tracks(t));
    if (!tracked.includes(true)) return;
    for (const o of outputs) this.#requires.add(o);
    this.#nodes.push({ outputs, backward });
  }

  /**
   * Adds `g` to the gradient of `t` (taking ownership of `g`); ignored if `t` needs none. A `g`
   * the tape cannot own (a view, or a gradient it already stores) is copied as by
   * {@linkcode Tape.addGradShared}.
   */
  addGrad(t: Tensor, g: Tensor): void {
    if (!g.owned || this.#stored.has(g)) {
      this.addGradShared(t, g);
      return;
    }
    if (!this.#tracks(t)) {
      g.dispose();
      return;
    }
    const p = this.#params.get(t);
    if (p) {
      accumulate(p.grad, g);
      g.dispose();
      return;
    }
    const prev = this.#grads.get(t);
    if (prev) {
      accumulate(prev, g);
      g.dispose();
    } else {
      this.#grads.set(t, g);
      this.#stored.add(g);
    }
  }

  /**
   * Like {@linkcode Tape.addGrad} but does not take ownership of `g` (it may be shared with
   * other inputs): a copy is stored when `t` has no gradient yet.
   */
  addGradShared(t: Tensor, g: Tensor): void {
    if (!this.#tracks(t)) return;
    const p = this.#params.get(t);
    const prev = p ? p.grad : this.#grads.get(t);
    if (prev) {
      accumulate(prev, g);
      return;
    }
    const copy = this.gpu.empty(t.shape);
    this.gpu.copy(g.reshape(t.shape), copy);
    this.#grads.set(t, copy);
    this.#stored.add(copy);
  }

  /**
   * The gradient arena view of `t` when `t` is a trainable parameter: ops that can accumulate
   * (matmul, column sums) write weight gradients straight into it.
   */
  paramGrad(t: Tensor): Tensor | undefined {
    return this.#params.get(t)?.grad;
  }

  /** The accumulated gradient of a watched tensor (after backward), if any. */
  grad(t: Tensor): Tensor | undefined {
    return this.#params.get(t)?.grad ?? this.#grads.get(t);
  }

  /** Backpropagates from a 1-element loss (seeded with 1), or from `t` with a given gradient. */
  backward(loss: Tensor, seed?: Tensor): void {
    if (this.#done) throw new Error("Tape.backward: already run; record a new tape per step");
    this.#done = true;
    if (!this.#tracks(loss)) return;
    this.addGrad(
      loss,
      seed ?? this.gpu.upload(new Float32Array(loss.size).fill(1), [...loss.shape]),
    );
    for (let i = this.#nodes.length - 1; i >= 0; i--) {
      const node = this.#nodes[i];
      const gs = node.outputs.map((o) => this.#grads.get(o));
      if (gs.every((g) => g === undefined)) continue;
      node.backward(gs);
      for (const o of node.outputs) this.#release(o);
    }
  }

  /** Disposes the stored gradient of `o` once nothing will read it. */
  #release(o: Tensor): void {
    const g = this.#grads.get(o);
    if (!g || this.#watched.has(o)) return;
    this.#grads.delete(o);
    this.#stored.delete(g);
    g.dispose();
  }

  /** Disposes every intermediate and gradient the tape owns. Call before `gpu.submit()`. */
  dispose(): void {
    for (const t of this.#owned) t.dispose();
    for (const g of this.#grads.values()) g.dispose();
    this.#owned = [];
    this.#grads.clear();
    this.#stored.clear();
    this.#nodes = [];
  }
}
