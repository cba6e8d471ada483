/**
 * Parameters with stable dotted names (`encoder.layers.0.attn.in_proj.weight`, the future
 * safetensors keys), stored in one flat arena per parameter group so that gradient zeroing,
 * the gradient norm and the AdamW update are one dispatch per group.
 *
 * @module
 */
import type { Gpu } from "../gpu/gpu.ts";
import { numel, type Tensor } from "../gpu/tensor.ts";

/** Elements between parameter starts are rounded to this (256 bytes: any offset alignment). */
const ALIGN = 64;

/**
 * A named trainable tensor: a view into its group's value arena, with a gradient view into
 * the group's gradient arena.
 */
export class Parameter {
  /** Dotted name, e.g. `encoder.layers.0.norm1.weight`. */
  readonly name: string;
  /** Shape (PyTorch layout, e.g. Linear weight is (out, in)). */
  readonly shape: readonly number[];
  /** Number of elements. */
  readonly size: number;
  /** Group that owns the storage. */
  readonly group: ParamGroup;
  /** Element offset in the group arena. */
  readonly offset: number;
  /** Initial values, kept until the store is finalised. */
  initial: Float32Array | null;

  /** Created by {@linkcode ParameterStore.create}. */
  constructor(
    name: string,
    shape: readonly number[],
    group: ParamGroup,
    offset: number,
    initial: Float32Array,
  ) {
    this.name = name;
    this.shape = Object.freeze([...shape]);
    this.size = numel(shape);
    this.group = group;
    this.offset = offset;
    this.initial = initial;
  }

  /** The value tensor (a view into the group arena). */
  get value(): Tensor {
    return this.group.arena("values").view(this.shape, this.offset);
  }

  /** The gradient tensor (a view into the group's gradient arena). */
  get grad(): Tensor {
    return this.group.arena("grads").view(this.shape, this.offset);
  }
}

/** Arenas of a group: values, gradients, and AdamW first and second moments. */
export type ArenaKind = "values" | "grads" | "m" | "v";

/**
 * A set of parameters trained with the same settings: frozen or not, and a learning-rate
 * multiplier (used by fine-tuning schedules that ramp a backbone's rate up).
 */
export class ParamGroup {
  /** Group name (`"default"`, `"backbone"`, `"head"`, ...). */
  readonly name: string;
  /** Parameters in registration order. */
  readonly params: Parameter[] = [];
  /** Frozen groups get no gradients and no updates. */
  frozen = false;
  /** Multiplies the optimiser's scheduled learning rate. */
  lrScale = 1;
  /** Elements in the arena (with alignment padding). */
  size = 0;
  #arenas: Partial<Record<ArenaKind, Tensor>> = {};

  /** Created by {@linkcode ParameterStore.group}. */
  constructor(name: string) {
    this.name = name;
  }

  /** One of the group's arenas (after {@linkcode ParameterStore.finalize}). */
  arena(kind: ArenaKind): Tensor {
    const t = this.#arenas[kind];
    if (!t) {
      throw new Error(`parameter group "${this.name}": not finalised (call store.finalize())`);
    }
    return t;
  }

  /** Installs the arenas (called by the store). */
  setArenas(arenas: Record<ArenaKind, Tensor>): void {
    this.#arenas = arenas;
  }

  /** Returns the arenas to the pool (called by {@linkcode ParameterStore.dispose}). */
  disposeArenas(): void {
    for (const t of Object.values(this.#arenas)) t.dispose();
    this.#arenas = {};
  }
}

/**
 * Registry of every parameter of a model, grouped, with arenas on the GPU.
 *
 * @example
 * ```ts ignore
 * const store = new ParameterStore(gpu);
 * const w = store.create("head.weight", [10, 64], initArray);
 * store.finalize();           // allocate and upload
 * store.zeroGrad();           // at the start of each step
 * ```
 */
export class ParameterStore {
  /** The device the arenas live on. */
  readonly gpu: Gpu;
  #groups = new Map<string, ParamGroup>();
  #byName = new Map<string, Parameter>();
  #finalized = false;

  /** Creates an empty store. */
  constructor(gpu: Gpu) {
    this.gpu = gpu;
  }

  /** Returns (creating if needed) the group called `name`. */
  group(name = "default"): ParamGroup {
    let g = this.#groups.get(name);
    if (!g) this.#groups.set(name, g = new ParamGroup(name));
    return g;
  }

  /** Whether {@linkcode ParameterStore.finalize} has run (arenas exist, no more parameters). */
  get finalized(): boolean {
    return this.#finalized;
  }

  /** All groups. */
  get groups(): ParamGroup[] {
    return [...this.#groups.values()];
  }

  /** All parameters, in registration order per group. */
  get parameters(): Parameter[] {
    return [...this.#byName.values()];
  }

  /** Total number of scalar parameters. */
  get count(): number {
    return this.parameters.reduce((s, p) => s + p.size, 0);
  }

  /** Looks a parameter up by name. */
  get(name: string): Parameter {
    const p = this.#byName.get(name);
    if (!p) throw new Error(`no parameter named "${name}"`);
    return p;
  }

  /** Registers a parameter with initial values (before {@linkcode ParameterStore.finalize}). */
  create(
    name: string,
    shape: readonly number[],
    initial: Float32Array,
    group = "default",
  ): Parameter {
    if (this.#finalized) throw new Error(`create("${name}"): store already finalised`);
    if (this.#byName.has(name)) throw new Error(`duplicate parameter name "${name}"`);
    if (initial.length !== numel(shape)) {
      throw new RangeError(
        `parameter ${name}: ${initial.length} initial values for shape [${shape}]`,
      );
    }
    const g = this.group(group);
    const p = new Parameter(name, shape, g, g.size, initial);
    g.size += Math.ceil(p.size / ALIGN) * ALIGN;
    g.params.push(p);
    this.#byName.set(name, p);
    return p;
  }

  /** Allocates the arenas and uploads initial values. */
  finalize(): void {
    if (this.#finalized) return;
    this.#finalized = true;
    for (const g of this.#groups.values()) {
      const n = Math.max(g.size, ALIGN);
      const host = new Float32Array(n);
      for (const p of g.params) {
        host.set(p.initial!, p.offset);
        p.initial = null;
      }
      const values = this.gpu.upload(host, [n]);
      g.setArenas({
        values,
        grads: this.gpu.zeros([n]),
        m: this.gpu.zeros([n]),
        v: this.gpu.zeros([n]),
      });
    }
    this.gpu.submit(); // frees upload staging memory
  }

  /**
   * Returns every arena (values, gradients, moments) to the buffer pool; the parameters cannot
   * be used afterwards. For a program that builds one model after another on the same device.
   *
   * @example
   * ```ts ignore
   * const store = new ParameterStore(gpu);
   * // ... build, train and save a model ...
   * store.dispose();
   * gpu.submit();
   * gpu.trim(); // the memory goes back to the driver
   * ```
   */
  dispose(): void {
    for (const g of this.#groups.values()) g.disposeArenas();
  }

  /** Records zeroing of every trainable group's gradient arena into the current step. */
  zeroGrad(): void {
    for (const g of this.#groups.values()) if (!g.frozen) this.gpu.clear(g.arena("grads"));
  }

  /** Reads every parameter's values (for checkpoints), keyed by name. */
  async read(kind: ArenaKind = "values"): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const g of this.#groups.values()) {
      const all = await g.arena(kind).read() as Float32Array;
      for (const p of g.params) out.set(p.name, all.slice(p.offset, p.offset + p.size));
    }
    return out;
  }

  /** Writes values for the named parameters (missing names are left unchanged). */
  write(values: Map<string, Float32Array>, kind: ArenaKind = "values"): void {
    for (const [name, data] of values) {
      const p = this.get(name);
      if (data.length !== p.size) {
        throw new RangeError(
          `parameter ${name}: ${data.length} values, expected ${p.size} [${p.shape}]`,
        );
      }
      this.gpu.write(p.group.arena(kind).view(p.shape, p.offset), data);
    }
  }
}
