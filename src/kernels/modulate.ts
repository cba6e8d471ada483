/**
 * Per-set modulation (adaptive LayerNorm conditioning): `x * (1 + scale[b]) + shift[b]` and the
 * gated residual `res + gate[b] * x`, with one (D) vector per set b shared by its N elements.
 * Above the storage binding limit each kernel runs on segments of whole sets.
 *
 * @module
 */
import { ShapeError } from "../gpu/errors.ts";
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { grid1d, rowSegments } from "./_util.ts";
import { MODULATE } from "./specs.ts";

function dims(op: string, x: Tensor, v: Tensor): [number, number, number] {
  if (x.shape.length !== 3) throw new ShapeError(`${op}: x [${x.shape}] must be (B, N, D)`);
  const [B, N, D] = x.shape as [number, number, number];
  if (v.size !== B * D) {
    throw new ShapeError(`${op}: per-set vector [${v.shape}] must be (${B}, ${D})`);
  }
  return [B, N, D];
}

/**
 * Dispatches `entry` with one invocation per element (`perSet` false) or per (set, channel),
 * over segments of whole sets: bindings of B x N x D elements are bound as the segment's sets,
 * those of B x D as their vectors.
 */
function run(
  entry: string,
  [B, N, D]: [number, number, number],
  c: number,
  bindings: (Tensor | null)[],
  perSet: boolean,
): void {
  const gpu = bindings.find((t) => t)!.gpu;
  const width = (t: Tensor | null) => (t === null ? 0 : t.size === B * D ? D : N * D);
  for (const [s, n] of rowSegments(gpu, B, [N * D, D])) {
    const whole = s === 0 && n === B;
    gpu.dispatch(MODULATE, entry, {
      uniforms: new Uniforms().u32(n).u32(N).u32(D).f32(c),
      bindings: whole ? bindings : bindings.map((t) => t && t.view([n * width(t)], s * width(t))),
      workgroups: grid1d(perSet ? n * D : n * N * D),
    });
  }
}

/**
 * `y = x * (1 + scale) + shift`, x (B, N, D), scale and shift (B, D).
 *
 * @example
 * ```ts ignore
 * const y = modulateForward(layerNormed, scale, shift);
 * ```
 */
export function modulateForward(x: Tensor, scale: Tensor, shift: Tensor): Tensor {
  const d = dims("modulate", x, scale);
  dims("modulate", x, shift);
  const y = x.gpu.empty(x.shape);
  run("modulate_fwd", d, 1, [x, scale, shift, y, null], false);
  return y;
}

/**
 * `y = res + gate * x`, res and x (B, N, D), gate (B, D).
 *
 * @example
 * ```ts ignore
 * h = gatedResidualForward(h, attnOut, gate);
 * ```
 */
export function gatedResidualForward(res: Tensor, x: Tensor, gate: Tensor): Tensor {
  const d = dims("gatedResidual", x, gate);
  if (res.size !== x.size) {
    throw new ShapeError(`gatedResidual: res [${res.shape}] != x [${x.shape}]`);
  }
  const y = x.gpu.empty(x.shape);
  run("gate_fwd", d, 0, [x, gate, res, y, null], false);
  return y;
}

/**
 * Backward of either form: dx = g * (c + s) (c = 1 for modulate, 0 for the gate), and the
 * per-set gradients dS = sum over the set of g * x (scale or gate) and dT = sum of g (shift).
 *
 * @example
 * ```ts ignore
 * const { dx, ds, dt } = modulateBackward(x, scale, g, 1);
 * ```
 */
export function modulateBackward(
  x: Tensor,
  s: Tensor,
  g: Tensor,
  c: 0 | 1,
): { dx: Tensor; ds: Tensor; dt: Tensor } {
  const d = dims("modulateBackward", x, s);
  const dx = x.gpu.empty(x.shape), ds = x.gpu.empty(s.shape), dt = x.gpu.empty(s.shape);
  run("dx_bwd", d, c, [null, s, g, dx, null], false);
  run("params_bwd", d, c, [x, null, g, ds, dt], true);
  return { dx, ds, dt };
}
