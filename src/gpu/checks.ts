// Private to the runtime: argument checks of Gpu.upload/write and Gpu.dispatch.
import { SHADER_BINDINGS } from "../_shaders.gen.ts";
import { ShapeError } from "./errors.ts";
import type { KernelSpec } from "./kernel_spec.ts";
import { Tensor } from "./tensor.ts";

/** Throws unless `data` is one of the typed arrays a tensor can be made of. */
export function checkTypedArray(op: string, data: unknown): void {
  if (
    !(data instanceof Float32Array || data instanceof Int32Array || data instanceof Uint32Array)
  ) {
    const got = Array.isArray(data)
      ? "a plain array"
      : (data as object)?.constructor?.name ?? typeof data;
    throw new TypeError(
      `${op}: expected a Float32Array, Int32Array or Uint32Array, got ${got}; wrap the values, e.g. new Float32Array(values)`,
    );
  }
}

/** Throws unless every bound tensor's dtype is the element type its shader declares. */
export function checkElements(
  spec: KernelSpec,
  entry: string,
  bindings: readonly (Tensor | GPUTexture | null)[],
): void {
  const declared = SHADER_BINDINGS[spec.shader];
  for (let i = 0; i < bindings.length; i++) {
    const b = bindings[i];
    if (!(b instanceof Tensor)) continue;
    const want = declared[i]?.elem;
    if (want && want !== "texture" && b.dtype !== want) {
      throw new ShapeError(
        `${spec.shader}.${entry}: ${
          declared[i].name
        } must be a ${want} tensor, got ${b.dtype} [${b.shape}]`,
      );
    }
  }
}
