/**
 * Compiled pipelines, cached by shader, entry point and override constants, with the bind-group
 * and pipeline layouts of each shader's signature ({@linkcode KernelSpec}).
 *
 * @module
 */
import { SHADERS } from "../_shaders.gen.ts";
import type { KernelSpec } from "./kernel_spec.ts";

/**
 * The pipeline cache of one device.
 *
 * @example
 * ```ts ignore
 * const cache = new PipelineCache(device);
 * const p = cache.pipeline(ELEMENTWISE, "add", {});
 * ```
 */
export class PipelineCache {
  /** Pipelines compiled so far. */
  compiled = 0;
  #device: GPUDevice;
  #modules = new Map<string, GPUShaderModule>();
  #layouts = new Map<KernelSpec, GPUBindGroupLayout>();
  #pipelineLayouts = new Map<KernelSpec, GPUPipelineLayout>();
  #pipelines = new Map<string, GPUComputePipeline>();

  /** A cache for `device`. */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** The compute pipeline for `spec`'s `entry` with override constants (compiled once). */
  pipeline(
    spec: KernelSpec,
    entry: string,
    overrides: Record<string, number> = {},
  ): GPUComputePipeline {
    const okeys = Object.keys(overrides).sort();
    const key = `${spec.shader}:${entry}:${okeys.map((k) => `${k}=${overrides[k]}`).join(",")}`;
    let p = this.#pipelines.get(key);
    if (p) return p;
    // Specialised constants go into the module text; the rest are pipeline overrides.
    const baked = (spec.constants ?? []).filter((c) => c in overrides);
    const constants = Object.fromEntries(
      Object.entries(overrides).filter(([k]) => !baked.includes(k)),
    );
    const moduleKey = `${spec.shader}:${baked.map((c) => `${c}=${overrides[c]}`).join(",")}`;
    let module = this.#modules.get(moduleKey);
    if (!module) {
      let code: string = SHADERS[spec.shader];
      for (const c of baked) code = specialise(code, c, overrides[c], spec.shader);
      module = this.#device.createShaderModule({ label: moduleKey, code });
      this.#modules.set(moduleKey, module);
    }
    p = this.#device.createComputePipeline({
      label: key,
      layout: this.#pipelineLayout(spec),
      compute: { module, entryPoint: entry, constants },
    });
    this.#pipelines.set(key, p);
    this.compiled++;
    return p;
  }

  /** The bind-group layout of a signature: binding 0 the uniform block, then `spec.bindings`. */
  bindGroupLayout(spec: KernelSpec): GPUBindGroupLayout {
    let layout = this.#layouts.get(spec);
    if (layout) return layout;
    const entries: GPUBindGroupLayoutEntry[] = [{
      binding: 0,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: "uniform", hasDynamicOffset: true, minBindingSize: 0 },
    }];
    spec.bindings.forEach((kind, i) => {
      const e: GPUBindGroupLayoutEntry = { binding: i + 1, visibility: GPUShaderStage.COMPUTE };
      if (kind === "read") e.buffer = { type: "read-only-storage" };
      else if (kind === "rw") e.buffer = { type: "storage" };
      else if (kind === "texture") e.texture = { sampleType: "unfilterable-float" };
      else e.storageTexture = { access: "write-only", format: "rgba32float" };
      entries.push(e);
    });
    layout = this.#device.createBindGroupLayout({ label: spec.shader, entries });
    this.#layouts.set(spec, layout);
    return layout;
  }

  #pipelineLayout(spec: KernelSpec): GPUPipelineLayout {
    let pl = this.#pipelineLayouts.get(spec);
    if (!pl) {
      pl = this.#device.createPipelineLayout({ bindGroupLayouts: [this.bindGroupLayout(spec)] });
      this.#pipelineLayouts.set(spec, pl);
    }
    return pl;
  }
}

/** `code` with the value of `const name: u32 = ...;` replaced by `value`. */
function specialise(code: string, name: string, value: number, shader: string): string {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(
      `${shader}: constant ${name} must be a non-negative integer, got ${value}`,
    );
  }
  const re = new RegExp(`const ${name}: u32 = \\d+u;`);
  if (!re.test(code)) throw new Error(`${shader}: no "const ${name}: u32 = ...u;" to specialise`);
  return code.replace(re, `const ${name}: u32 = ${value}u;`);
}
