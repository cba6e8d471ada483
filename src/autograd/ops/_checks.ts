// Shape checks shared by the ops: elementwise operands must have the same shape (not merely the
// same number of elements), broadcast operands must match the last axis.
import { ShapeError } from "../../gpu/errors.ts";
import type { Tensor } from "../../gpu/tensor.ts";

/** Throws unless `a` and `b` have identical shapes. */
export function sameShape(op: string, a: Tensor, b: Tensor, names = ["a", "b"]): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError(
      `${op}: ${names[0]} [${a.shape}] and ${names[1]} [${b.shape}] must have the same shape`,
    );
  }
}

/** Throws unless `v` has as many elements as the last axis of `x` (a per-channel row). */
export function matchesLastAxis(op: string, x: Tensor, v: Tensor, name: string): void {
  const c = x.shape.length ? x.shape[x.shape.length - 1] : 1;
  if (v.size !== c) {
    throw new ShapeError(
      `${op}: ${name} [${v.shape}] must have one value per channel of [${x.shape}] (${c})`,
    );
  }
}
