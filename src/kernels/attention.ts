/**
 * Multi-head attention with a key-validity mask: streaming forward that saves the per-row
 * log-sum-exp, and a backward pass that recomputes probabilities (dQ per query row, dK/dV
 * per key row). Self-attention reads q, k, v as column blocks of one fused (B, N, 3d) tensor,
 * cross-attention reads q (B, Nq, d) and a fused kv (B, Nk, 2d); gradients come back in the
 * same fused layouts.
 *
 * Two implementations with the same arithmetic: `attention.wgsl` reads every operand from storage
 * buffers (discrete GPUs; by default its workgroup-tiled kernels, which stage the rows a block of
 * 64 rows loops over in workgroup memory); on the texture matmul path (CPU drivers) `attention_tex.wgsl` reads
 * the operands each invocation visits once per key or query from rgba32float textures, packed
 * per segment of sets (a texel fetch costs about a tenth of a storage load on lavapipe).
 *
 * @module
 */
import { ShapeError } from "../gpu/errors.ts";
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { expectDtype, expectSize, grid1d, rowSegments } from "./_util.ts";
import { ATTENTION, ATTENTION_TEX, MATMUL_TEX } from "./specs.ts";
import type { Gpu } from "../gpu/gpu.ts";

/** Where one operand lives: a tensor of rows, a row stride and a column offset (elements). */
export interface AttentionOperand {
  /** (batch, rows, stride) tensor holding the operand's columns. */
  tensor: Tensor;
  /** Elements per row of `tensor`. */
  stride: number;
  /** First column of the operand inside a row. */
  offset: number;
}

/** Problem description shared by forward and backward. */
export interface AttentionArgs {
  /** Queries: (batch, nq) rows of `heads * headDim` columns. */
  q: AttentionOperand;
  /** Keys: (batch, nk) rows. */
  k: AttentionOperand;
  /** Values: (batch, nk) rows. */
  v: AttentionOperand;
  /** Key validity (batch, nk) u32, 1 = real; omit when every key is valid. */
  valid?: Tensor;
  /** Number of sets (jets). */
  batch: number;
  /** Query rows per set. */
  nq: number;
  /** Key rows per set. */
  nk: number;
  /** Number of heads. */
  heads: number;
  /** Channels per head (a multiple of 4, at most 128). */
  headDim: number;
  /** Softmax scale; default 1 / sqrt(headDim). */
  scale?: number;
  /**
   * Storage path only: `"tiled"` (default) has each workgroup of 64 rows stage the rows it loops
   * over (keys and values, or queries and gradients) in workgroup memory; `"flat"` reads them
   * from storage per invocation. Bit-identical results; tests and benchmarks compare the two.
   */
  storageKernel?: "tiled" | "flat";
}

/** Output of {@linkcode attentionForward}. */
export interface AttentionSaved {
  /** (batch, nq, heads * headDim). */
  out: Tensor;
  /** (batch, heads, nq) log-sum-exp of each score row (-3e38 for a fully masked row). */
  lse: Tensor;
}

function check(a: AttentionArgs): void {
  if (a.headDim % 4 !== 0 || a.headDim > 128) {
    throw new ShapeError(`attention: head dim ${a.headDim} must be a multiple of 4 and <= 128`);
  }
  const d = a.heads * a.headDim;
  for (const [name, op, rows] of [["q", a.q, a.nq], ["k", a.k, a.nk], ["v", a.v, a.nk]] as const) {
    if (op.stride % 4 || op.offset % 4) {
      throw new ShapeError(`attention: ${name} stride/offset must be multiples of 4`);
    }
    if (op.offset + d > op.stride) {
      throw new ShapeError(
        `attention: ${name} columns ${op.offset}+${d} exceed stride ${op.stride}`,
      );
    }
    expectSize("attention", name, op.tensor, a.batch * rows * op.stride);
  }
  if (a.valid) {
    expectDtype("attention", "valid", a.valid, "u32");
    expectSize("attention", "valid", a.valid, a.batch * a.nk);
  }
}

function uniforms(
  a: AttentionArgs,
  oStride: number,
  oOffset: number,
  o2Offset: number,
  q: AttentionOperand = a.q,
): Uniforms {
  return new Uniforms().u32(a.batch).u32(a.nq).u32(a.nk).u32(a.heads)
    .u32(q.stride / 4).u32(q.offset / 4).u32(a.k.stride / 4).u32(a.k.offset / 4)
    .u32(a.v.stride / 4).u32(a.v.offset / 4).u32(oStride / 4).u32(oOffset / 4).u32(o2Offset / 4)
    .u32(a.valid ? 1 : 0).f32(a.scale ?? 1 / Math.sqrt(a.headDim));
}

/**
 * Masked multi-head attention forward. Returns the output and the per-row LSE.
 *
 * @example Self-attention over a fused qkv tensor
 * ```ts ignore
 * const d = heads * headDim;
 * const { out, lse } = attentionForward({
 *   q: { tensor: qkv, stride: 3 * d, offset: 0 },
 *   k: { tensor: qkv, stride: 3 * d, offset: d },
 *   v: { tensor: qkv, stride: 3 * d, offset: 2 * d },
 *   valid, batch: B, nq: N, nk: N, heads, headDim,
 * });
 * ```
 */
export function attentionForward(a: AttentionArgs): AttentionSaved {
  check(a);
  const gpu = a.q.tensor.gpu;
  const d = a.heads * a.headDim;
  const out = gpu.empty([a.batch, a.nq, d]);
  const lse = gpu.empty([a.batch, a.heads, a.nq]);
  // Segments of whole sets under the binding limit (one segment below it).
  for (const seg of batchSegments(a, [a.nq * d, a.heads * a.nq])) {
    const b = seg.args, per = (t: Tensor, w: number) => seg.rows(t, w);
    if (useTextures(gpu)) {
      const kt = packRows(gpu, b.k, b.batch * a.nk, d), vt = packRows(gpu, b.v, b.batch * a.nk, d);
      gpu.dispatch(ATTENTION_TEX, "forward", {
        uniforms: uniforms(b, d, 0, 0),
        bindings: [
          b.q.tensor,
          b.valid ?? null,
          null,
          per(lse, a.heads * a.nq),
          null,
          per(out, a.nq * d),
          kt,
          vt,
          null,
          null,
        ],
        workgroups: grid1d(b.batch * a.heads * a.nq),
        overrides: { HD4: a.headDim / 4 },
      });
      gpu.releaseTexture(kt);
      gpu.releaseTexture(vt);
      continue;
    }
    const tiled = a.storageKernel !== "flat";
    gpu.dispatch(ATTENTION, tiled ? "forward_tiled" : "forward", {
      uniforms: uniforms(b, d, 0, 0),
      bindings: [
        b.q.tensor,
        b.k.tensor,
        b.v.tensor,
        b.valid ?? null,
        null,
        per(lse, a.heads * a.nq),
        null,
        per(out, a.nq * d),
      ],
      workgroups: tiled ? tiledGrid(b, a.nq) : grid1d(b.batch * a.heads * a.nq),
      overrides: { HD4: a.headDim / 4 },
    });
  }
  return { out, lse };
}

/** Grid of the workgroup-tiled kernels: x = head * blocks of 64 rows + block, y = set. */
function tiledGrid(a: AttentionArgs, rows: number): [number, number, number] {
  return [Math.ceil(rows / 64) * a.heads, a.batch, 1];
}

/** One segment of sets: the arguments on views of its sets, and a view maker for the rest. */
interface Segment {
  args: AttentionArgs;
  rows: (t: Tensor, perSet: number) => Tensor;
}

/**
 * The attention problem cut into segments of whole sets (batch entries) whose bound views stay
 * under the device's binding limit; `widths` are the per-set element counts of the other
 * tensors bound. One segment (the arguments unchanged) below the limit.
 */
function batchSegments(a: AttentionArgs, widths: readonly number[]): Segment[] {
  const gpu = a.q.tensor.gpu;
  const ops = [[a.q, a.nq], [a.k, a.nk], [a.v, a.nk]] as const;
  const all = [...ops.map(([o, n]) => n * o.stride), ...(a.valid ? [a.nk] : []), ...widths];
  // On the texture path a segment's rows also fit one texture's height; on the storage path its
  // sets fit the y dimension of the tiled kernels' grid.
  const maxSets = useTextures(gpu)
    ? Math.floor(gpu.limits.maxTextureDimension2D / Math.max(a.nq, a.nk, 1))
    : gpu.limits.maxComputeWorkgroupsPerDimension;
  return rowSegments(gpu, a.batch, all, maxSets).map(([s, n]) => {
    const whole = s === 0 && n === a.batch;
    const rows = (t: Tensor, w: number) => (whole ? t : t.view([n * w], s * w));
    const op = (o: AttentionOperand, r: number) => ({ ...o, tensor: rows(o.tensor, r * o.stride) });
    return {
      args: {
        ...a,
        batch: n,
        q: op(a.q, a.nq),
        k: op(a.k, a.nk),
        v: op(a.v, a.nk),
        valid: a.valid ? rows(a.valid, a.nk) : undefined,
      },
      rows,
    };
  });
}

/** Where {@linkcode attentionBackward} writes its gradients. */
export interface AttentionGradTargets {
  /** dq written at (row stride, column offset) of this tensor. */
  dq: AttentionOperand;
  /** dk and dv written into this tensor at `kOffset` and `vOffset` (row stride `stride`). */
  dkv: { tensor: Tensor; stride: number; kOffset: number; vOffset: number };
}

/**
 * Masked multi-head attention backward: writes dq and dk/dv into the given targets.
 *
 * @example Self-attention: all three gradients land in one fused dqkv tensor
 * ```ts ignore
 * const dqkv = gpu.empty([B, N, 3 * d]);
 * attentionBackward(args, saved, dout, {
 *   dq: { tensor: dqkv, stride: 3 * d, offset: 0 },
 *   dkv: { tensor: dqkv, stride: 3 * d, kOffset: d, vOffset: 2 * d },
 * });
 * ```
 */
export function attentionBackward(
  a: AttentionArgs,
  saved: AttentionSaved,
  dout: Tensor,
  targets: AttentionGradTargets,
): void {
  check(a);
  const gpu = dout.gpu;
  const d = a.heads * a.headDim;
  expectSize("attentionBackward", "dout", dout, a.batch * a.nq * d);
  const delta = gpu.empty([a.batch, a.heads, a.nq]);
  const ov = { HD4: a.headDim / 4 };
  const t = targets.dkv, hq = a.heads * a.nq;
  // Segments of whole sets under the binding limit (one segment below it).
  const widths = [a.nq * d, hq, a.nq * targets.dq.stride, a.nk * t.stride];
  for (const seg of batchSegments(a, widths)) {
    const b = seg.args, r = seg.rows;
    const qRows = grid1d(b.batch * hq);
    const outS = r(saved.out, a.nq * d), doutS = r(dout, a.nq * d);
    const lseS = r(saved.lse, hq), deltaS = r(delta, hq);
    gpu.dispatch(ATTENTION, "delta_rows", {
      uniforms: uniforms(b, d, 0, 0, { tensor: outS, stride: d, offset: 0 }),
      bindings: [outS, null, null, null, doutS, deltaS, null, null],
      workgroups: qRows,
      overrides: ov,
    });
    if (useTextures(gpu)) {
      backwardTextures(gpu, a, b, { doutS, lseS, deltaS }, {
        dq: r(targets.dq.tensor, a.nq * targets.dq.stride),
        dkv: r(t.tensor, a.nk * t.stride),
      }, targets);
      continue;
    }
    const ins = [b.q.tensor, b.k.tensor, b.v.tensor, b.valid ?? null, doutS, lseS, deltaS] as const;
    const tiled = a.storageKernel !== "flat";
    gpu.dispatch(ATTENTION, tiled ? "backward_q_tiled" : "backward_q", {
      uniforms: uniforms(b, targets.dq.stride, targets.dq.offset, 0),
      bindings: [...ins, r(targets.dq.tensor, a.nq * targets.dq.stride)],
      workgroups: tiled ? tiledGrid(b, a.nq) : qRows,
      overrides: ov,
    });
    gpu.dispatch(ATTENTION, tiled ? "backward_kv_tiled" : "backward_kv", {
      uniforms: uniforms(b, t.stride, t.kOffset, t.vOffset),
      bindings: [...ins, r(t.tensor, a.nk * t.stride)],
      workgroups: tiled ? tiledGrid(b, a.nk) : grid1d(b.batch * a.heads * a.nk),
      overrides: ov,
    });
  }
  delta.dispose();
}

/**
 * Whether attention reads its per-key operands through textures: on the texture matmul path
 * (CPU drivers, where a texel fetch is about ten times cheaper than a storage load).
 */
function useTextures(gpu: Gpu): boolean {
  return gpu.matmulPath === "texture";
}

/**
 * An rgba32float texture of `rows` rows holding columns [offset, offset + width) of an operand's
 * rows (texel x of row y = columns 4x..4x+3), packed by matmul_tex.wgsl's `pack`.
 */
function packRows(gpu: Gpu, o: AttentionOperand, rows: number, width: number): GPUTexture {
  const tex = gpu.acquireTexture(width / 4, rows);
  gpu.dispatch(MATMUL_TEX, "pack", {
    uniforms: new Uniforms().u32(rows).u32(width).u32(o.stride).u32(1).u32(0).u32(o.offset)
      .u32(rows).u32(width / 4),
    bindings: [o.tensor, null, null, tex, null, null],
    workgroups: [Math.ceil(width / 4 / 8), Math.ceil(rows / 8), 1],
  });
  return tex;
}

/** The two backward kernels of one segment on the texture path (see attention_tex.wgsl). */
function backwardTextures(
  gpu: Gpu,
  a: AttentionArgs,
  b: AttentionArgs,
  s: { doutS: Tensor; lseS: Tensor; deltaS: Tensor },
  outs: { dq: Tensor; dkv: Tensor },
  targets: AttentionGradTargets,
): void {
  const d = a.heads * a.headDim, nk = b.batch * a.nk, nq = b.batch * a.nq;
  const kt = packRows(gpu, b.k, nk, d), vt = packRows(gpu, b.v, nk, d);
  const qt = packRows(gpu, b.q, nq, d);
  const gt = packRows(gpu, { tensor: s.doutS, stride: d, offset: 0 }, nq, d);
  const ov = { HD4: a.headDim / 4 }, t = targets.dkv;
  const common = [b.valid ?? null, s.doutS, s.lseS, s.deltaS] as const;
  gpu.dispatch(ATTENTION_TEX, "backward_q", {
    uniforms: uniforms(b, targets.dq.stride, targets.dq.offset, 0),
    bindings: [b.q.tensor, ...common, outs.dq, kt, vt, null, null],
    workgroups: grid1d(b.batch * a.heads * a.nq),
    overrides: ov,
  });
  gpu.dispatch(ATTENTION_TEX, "backward_kv", {
    uniforms: uniforms(b, t.stride, t.kOffset, t.vOffset),
    bindings: [null, ...common, outs.dkv, kt, vt, qt, gt],
    workgroups: grid1d(b.batch * a.heads * a.nk),
    overrides: ov,
  });
  for (const x of [kt, vt, qt, gt]) gpu.releaseTexture(x);
}
