// Private helpers shared by kernel wrappers.
import { ShapeError } from "../gpu/errors.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { KernelSpec, Uniforms } from "../gpu/kernel_spec.ts";
import type { Gpu } from "../gpu/gpu.ts";
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

/**
 * Dispatches a flat kernel (one invocation per element of an `n`-element output) in chunks
 * whose bound views stay under the device's storage binding limit. A binding of `r * n`
 * elements (r = 1, 2, ...) is bound as the chunk's slice, a smaller one (a per-channel vector)
 * whole. Chunks hold a multiple of `rowWidth` invocations, so per-channel (`i % cols`) and per-row
 * indexing stay valid, and of the offset alignment. Below the limit this is one dispatch.
 */
export function dispatchFlat(
  spec: KernelSpec,
  entry: string,
  n: number,
  bindings: readonly (Tensor | null)[],
  uniforms: (count: number) => Uniforms,
  rowWidth = 1,
): void {
  const first = bindings.find((b): b is Tensor => b !== null)!;
  const gpu = first.gpu;
  const ratio = bindings.map((b) => (b && b.size >= n && n > 0 ? b.size / n : 0));
  const widest = Math.max(1, ...ratio);
  const maxElems = Math.floor(gpu.maxBindingSize / 4);
  if (widest * n <= maxElems) {
    gpu.dispatch(spec, entry, { uniforms: uniforms(n), bindings, workgroups: grid1d(n) });
    return;
  }
  for (const r of ratio) {
    if (r && !Number.isInteger(r)) {
      throw new ShapeError(`${spec.shader}.${entry}: cannot chunk a binding of ${r} x n elements`);
    }
  }
  const align = gpu.limits.minStorageBufferOffsetAlignment / 4;
  const unit = lcm(align, rowWidth);
  const chunk = Math.floor(maxElems / widest / unit) * unit;
  if (chunk < unit) {
    throw new ShapeError(
      `${spec.shader}.${entry}: rows of ${rowWidth} x ${widest} elements exceed the ${gpu.maxBindingSize}-byte binding limit`,
    );
  }
  for (let s = 0; s < n; s += chunk) {
    const c = Math.min(chunk, n - s);
    const views = bindings.map((
      b,
      i,
    ) => (b && ratio[i] ? b.view([c * ratio[i]], s * ratio[i]) : b));
    gpu.dispatch(spec, entry, { uniforms: uniforms(c), bindings: views, workgroups: grid1d(c) });
  }
}

function gcd(a: number, b: number): number {
  return b ? gcd(b, a % b) : a;
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/**
 * Splits `rows` into consecutive [start, count) segments such that a binding with `w` elements
 * per row, bound from row `start`, stays under the device's binding limit and starts at an
 * aligned offset, for every width in `widths`, and no segment has more than `maxRows` rows. One
 * segment when everything fits. `bytes` gives each width's element size (4, f32, by default;
 * 2 for f16 operands).
 */
export function rowSegments(
  gpu: Gpu,
  rows: number,
  widths: readonly number[],
  maxRows = Infinity,
  bytes: readonly number[] = [],
): [number, number][] {
  const rowBytes = widths.map((w, i) => w * (bytes[i] ?? 4)), widest = Math.max(...rowBytes);
  const limit = Math.floor(gpu.maxBindingSize / 4) * 4;
  if (rows * widest <= limit && rows <= maxRows) return [[0, rows]];
  const align = gpu.limits.minStorageBufferOffsetAlignment;
  const unit = rowBytes.reduce((u, w) => lcm(u, align / gcd(align, w)), 1);
  const seg = Math.floor(Math.min(limit / widest, maxRows) / unit) * unit;
  if (seg < 1) {
    throw new ShapeError(
      `${unit} row(s) of ${widest} bytes (the fewest whose views start at aligned offsets) ` +
        `exceed the ${gpu.maxBindingSize}-byte binding limit`,
    );
  }
  const out: [number, number][] = [];
  for (let s = 0; s < rows; s += seg) out.push([s, Math.min(seg, rows - s)]);
  return out;
}
