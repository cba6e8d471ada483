/**
 * Attention ops: masked multi-head self-attention and cross-attention on packed projections.
 *
 * @module
 */
import { ShapeError } from "../../gpu/errors.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { attentionBackward, attentionForward } from "../../kernels/attention.ts";
import type { Tape } from "../tape.ts";

/**
 * Multi-head self-attention over a fused qkv tensor (B, N, 3d) with key validity (B, N) u32.
 * Returns (B, N, d).
 *
 * @example
 * ```ts ignore
 * const o = selfAttention(tape, qkv, valid, 4);
 * ```
 */
export function selfAttention(
  tape: Tape,
  qkv: Tensor,
  valid: Tensor | undefined,
  heads: number,
): Tensor {
  const [batch, n, d3] = qkv.shape as [number, number, number];
  const d = d3 / 3;
  const args = {
    q: { tensor: qkv, stride: d3, offset: 0 },
    k: { tensor: qkv, stride: d3, offset: d },
    v: { tensor: qkv, stride: d3, offset: 2 * d },
    valid,
    batch,
    nq: n,
    nk: n,
    heads,
    headDim: d / heads,
  };
  const saved = attentionForward(args);
  tape.keep(saved.lse);
  tape.record([qkv], [saved.out], ([g]) => {
    const dqkv = tape.gpu.empty(qkv.shape);
    attentionBackward(args, saved, g!, {
      dq: { tensor: dqkv, stride: d3, offset: 0 },
      dkv: { tensor: dqkv, stride: d3, kOffset: d, vOffset: 2 * d },
    });
    tape.addGrad(qkv, dqkv);
  });
  return saved.out;
}

/**
 * Multi-head cross-attention: queries q (B, Nq, d) attend to a fused kv (B, Nk, 2d) with key
 * validity (B, Nk). Nq = 1 is class attention. Returns (B, Nq, d).
 *
 * @example
 * ```ts ignore
 * const o = crossAttention(tape, q, kv, validKeys, 4);
 * ```
 */
export function crossAttention(
  tape: Tape,
  q: Tensor,
  kv: Tensor,
  valid: Tensor | undefined,
  heads: number,
): Tensor {
  const [batch, nq, d] = q.shape as [number, number, number];
  const nk = kv.shape[1];
  if (kv.shape[2] !== 2 * d) {
    throw new ShapeError(`crossAttention: kv [${kv.shape}] must be (B, Nk, ${2 * d})`);
  }
  const args = {
    q: { tensor: q, stride: d, offset: 0 },
    k: { tensor: kv, stride: 2 * d, offset: 0 },
    v: { tensor: kv, stride: 2 * d, offset: d },
    valid,
    batch,
    nq,
    nk,
    heads,
    headDim: d / heads,
  };
  const saved = attentionForward(args);
  tape.keep(saved.lse);
  tape.record([q, kv], [saved.out], ([g]) => {
    const dq = tape.gpu.empty(q.shape), dkv = tape.gpu.empty(kv.shape);
    attentionBackward(args, saved, g!, {
      dq: { tensor: dq, stride: d, offset: 0 },
      dkv: { tensor: dkv, stride: 2 * d, kOffset: 0, vOffset: d },
    });
    tape.addGrad(q, dq);
    tape.addGrad(kv, dkv);
  });
  return saved.out;
}
