// Private helpers shared by kernel wrappers.
import { ShapeError } from "../gpu/errors.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { FLAT_WORKGROUP_SIZE } from "../_shaders.gen.ts";

/**
 * Workgroup counts for a 1-D grid of `n` invocations (`FLAT_WORKGROUP_SIZE` per workgroup),
 * folded into x/y; shaders unfold it with the prelude's `flat_index(gid, nwg)`.
 */
export function grid1d(n: number, maxPerDim = 65535): [number, number] {
  const groups = Math.ceil(n / FLAT_WORKGROUP_SIZE);
  if (groups <= maxPerDim) return [groups, 1];
  const x = maxPerDim;
  return [x, Math.ceil(groups / x)];
}

/** Throws a ShapeError unless `t` has the given dtype. */
export function expectDtype(op: string, name: string, t: Tensor, dtype: string): void {
  if (t.dtype !== dtype) {
    throw new ShapeError(`${op}: ${name} must be ${dtype}, got ${t.dtype} [${t.shape}]`);
  }
}

/** Throws a ShapeError unless `t` has exactly `size` elements. */
export function expectSize(op: string, name: string, t: Tensor, size: number): void {
  if (t.size !== size) {
    throw new ShapeError(`${op}: ${name} has ${t.size} elements [${t.shape}], expected ${size}`);
  }
}

/** Last-axis length. */
export function lastDim(t: Tensor): number {
  return t.shape.length ? t.shape[t.shape.length - 1] : 1;
}
