// Kernels whose operands exceed the storage binding limit run in chunks under it: every
// elementwise entry, AdamW, LayerNorm, attention, the losses and the reductions, on a device capped at 4 KiB per binding, element for element
// equal to the same kernels on the uncapped device (and the float64 reference for AdamW).
import { requestGpu } from "../../src/gpu/gpu.ts";
import type { Gpu } from "../../src/gpu/gpu.ts";
import type { Tensor } from "../../src/gpu/tensor.ts";
import * as ew from "../../src/kernels/elementwise.ts";
import { adamwStep } from "../../src/kernels/adamw.ts";
import { layerNormBackward, layerNormForward } from "../../src/kernels/layernorm.ts";
import { attentionBackward, attentionForward } from "../../src/kernels/attention.ts";
import {
  crossEntropyBackward,
  crossEntropyForward,
  pointwiseLossBackward,
  pointwiseLossForward,
} from "../../src/kernels/losses.ts";
import { colSum, sumAll } from "../../src/kernels/reduce.ts";
import { assertClose, randn } from "../_helpers/mod.ts";
import { adamwRef } from "../reference/optim.ts";

const CAP = 4096; // bytes: 1024 floats
const big = await requestGpu();
const small = await requestGpu({ maxBindingSize: CAP });

// rows x cols with rows * cols * 2 > 1024 and cols not a power of two.
const ROWS = 97, COLS = 24;
const shape = [ROWS, COLS], n = ROWS * COLS;
const a = randn(n, 1), b = randn(n, 2), c = Float32Array.from(randn(n, 3), (v) => (v + 1) / 2);
const v = randn(COLS, 4), wide = randn(2 * n, 5);

type Case = [string, (g: Gpu, t: (d: Float32Array, s: number[]) => Tensor) => Tensor];
const CASES: Case[] = [
  ["axpby", (_g, t) => ew.axpby(t(a, shape), t(b, shape), { alpha: 0.5, beta: -2 })],
  ["mul", (_g, t) => ew.mul(t(a, shape), t(b, shape), { alpha: 3 })],
  ["scale", (_g, t) => ew.scale(t(a, shape), -1.5)],
  ["addBroadcast", (_g, t) => ew.addBroadcast(t(a, shape), t(v, [COLS]))],
  ["mulBroadcast", (_g, t) => ew.mulBroadcast(t(a, shape), t(v, [COLS]))],
  ["residualScale", (_g, t) => ew.residualScale(t(a, shape), t(b, shape), t(v, [COLS]))],
  ["siluForward", (_g, t) => ew.siluForward(t(a, shape))],
  ["siluBackward", (_g, t) => ew.siluBackward(t(a, shape), t(b, shape))],
  ["geluForward", (_g, t) => ew.geluForward(t(a, shape))],
  ["geluBackward", (_g, t) => ew.geluBackward(t(a, shape), t(b, shape))],
  ["swigluForward", (_g, t) => ew.swigluForward(t(wide, [ROWS, 2 * COLS]))],
  ["swigluBackward", (_g, t) => ew.swigluBackward(t(wide, [ROWS, 2 * COLS]), t(a, shape))],
  ["dropoutApply", (_g, t) => ew.dropoutApply(t(a, shape), t(c, shape), 0.3)],
  ["absDiffForward", (_g, t) => ew.absDiffForward(t(a, shape), t(b, shape))],
  ["absDiffBackward", (_g, t) => ew.absDiffBackward(t(a, shape), t(b, shape), t(c, shape), -1)],
  ["accumulate", (_g, t) => {
    const out = t(a, shape);
    ew.accumulate(out, t(b, shape), 0.25);
    return out;
  }],
];

for (const [name, f] of CASES) {
  Deno.test(`chunking: ${name} above the binding limit equals the unchunked kernel`, async () => {
    const run = async (g: Gpu) => {
      const made: Tensor[] = [];
      const t = (d: Float32Array, s: number[]) => {
        const x = g.upload(d, s);
        made.push(x);
        return x;
      };
      const before = g.stats.dispatches;
      const out = f(g, t);
      const dispatches = g.stats.dispatches - before;
      const r = await out.read() as Float32Array;
      for (const x of new Set([...made, out])) x.dispose();
      return { r, dispatches };
    };
    const want = await run(big), got = await run(small);
    if (want.r.length * 4 <= CAP) throw new Error("the case must exceed the cap");
    if (!(got.dispatches > want.dispatches)) {
      throw new Error(
        `${name}: ${got.dispatches} dispatches under the cap, ${want.dispatches} without`,
      );
    }
    assertClose(got.r, want.r, { atol: 0, rtol: 0, label: name });
  });
}

Deno.test("chunking: AdamW over an arena above the binding limit matches the float64 reference", async () => {
  const N = 3001, p0 = randn(N, 7), g0 = randn(N, 8);
  const p = small.upload(p0), g = small.upload(g0);
  const m = small.zeros([N]), vv = small.zeros([N]), sumsq = small.upload(new Float32Array([4]));
  const args = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, step: 1 };
  adamwStep(p, g, m, vv, sumsq, { ...args, maxNorm: 1 });
  small.submit();
  const ref = Float64Array.from(p0);
  adamwRef(ref, g0, new Float64Array(N), new Float64Array(N), {
    lr: 1e-2,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    wd: 0.1,
    step: 1,
    maxNorm: 1,
    sumsq: 4,
  });
  assertClose(await p.read(), ref, { atol: 1e-6, label: "adamw" });
  for (const t of [p, g, m, vv, sumsq]) t.dispose();
});

for (const variant of ["row", "workgroup"] as const) {
  Deno.test(`chunking: LayerNorm (${variant}) forward and backward above the binding limit equal the unchunked kernels`, async () => {
    const R = 203, C = 40; // 8120 elements per operand: 8 segments under the cap
    const x0 = randn(R * C, 11), dy0 = randn(R * C, 12), g0 = randn(C, 13), b0 = randn(C, 14);
    const run = async (g: Gpu) => {
      const x = g.upload(x0, [R, C]), dy = g.upload(dy0, [R, C]);
      const gamma = g.upload(g0), beta = g.upload(b0);
      const before = g.stats.dispatches;
      const saved = layerNormForward(x, gamma, beta, 1e-5, { variant });
      const grads = layerNormBackward(x, gamma, saved, dy, { variant });
      const dispatches = g.stats.dispatches - before;
      const out = {
        y: await saved.y.read(),
        mean: await saved.mean.read(),
        rstd: await saved.rstd.read(),
        dx: await grads.dx.read(),
        dgamma: await grads.dgamma.read(),
        dbeta: await grads.dbeta.read(),
        dispatches,
      };
      for (
        const t of [x, dy, gamma, beta, saved.y, saved.mean, saved.rstd, ...Object.values(grads)]
      ) {
        t.dispose();
      }
      return out;
    };
    const want = await run(big), got = await run(small);
    if (!(got.dispatches > want.dispatches)) throw new Error("the capped device runs segments");
    for (const k of ["y", "mean", "rstd", "dx"] as const) {
      assertClose(got[k], want[k], { atol: 0, rtol: 0, label: k });
    }
    // Parameter gradients add the segments' sums: the same values in another order.
    for (const k of ["dgamma", "dbeta"] as const) {
      assertClose(got[k], want[k], { atol: 1e-4, rtol: 1e-5, label: k });
    }
  });
}

Deno.test("chunking: attention forward and backward (fused self-attention and masked cross-attention) above the binding limit equal the unchunked kernels", async () => {
  // Views start at aligned offsets, so segments hold a few whole sets: a 64 KiB cap here.
  const capped = await requestGpu({ maxBindingSize: 65536 });
  const B = 40, H = 2, HD = 8, d = H * HD;
  for (const [nq, nk, fused] of [[16, 16, true], [4, 16, false]] as const) {
    const run = async (g: Gpu) => {
      const made: Tensor[] = [];
      const up = (x: Float32Array | Uint32Array, s: number[]) => {
        const t = g.upload(x, s);
        made.push(t);
        return t;
      };
      const valid = up(Uint32Array.from({ length: B * nk }, (_, i) => (i % 7 === 6 ? 0 : 1)), [
        B,
        nk,
      ]);
      let args;
      if (fused) {
        const qkv = up(randn(B * nq * 3 * d, 21), [B, nq, 3 * d]);
        args = {
          q: { tensor: qkv, stride: 3 * d, offset: 0 },
          k: { tensor: qkv, stride: 3 * d, offset: d },
          v: { tensor: qkv, stride: 3 * d, offset: 2 * d },
        };
      } else {
        const q = up(randn(B * nq * d, 22), [B, nq, d]),
          kv = up(randn(B * nk * 2 * d, 23), [B, nk, 2 * d]);
        args = {
          q: { tensor: q, stride: d, offset: 0 },
          k: { tensor: kv, stride: 2 * d, offset: 0 },
          v: { tensor: kv, stride: 2 * d, offset: d },
        };
      }
      const a = { ...args, valid, batch: B, nq, nk, heads: H, headDim: HD };
      const before = g.stats.dispatches;
      const saved = attentionForward(a);
      const dout = up(randn(B * nq * d, 24), [B, nq, d]);
      const dq = g.zeros([B, nq, d]), dkv = g.zeros([B, nk, 2 * d]);
      attentionBackward(a, saved, dout, {
        dq: { tensor: dq, stride: d, offset: 0 },
        dkv: { tensor: dkv, stride: 2 * d, kOffset: 0, vOffset: d },
      });
      const dispatches = g.stats.dispatches - before;
      const out = {
        out: await saved.out.read(),
        lse: await saved.lse.read(),
        dq: await dq.read(),
        dkv: await dkv.read(),
        dispatches,
      };
      for (const t of [...made, saved.out, saved.lse, dq, dkv]) t.dispose();
      return out;
    };
    const want = await run(big), got = await run(capped);
    if (!(got.dispatches > want.dispatches)) throw new Error("the capped device runs segments");
    for (const k of ["out", "lse", "dq", "dkv"] as const) {
      assertClose(got[k], want[k], { atol: 0, rtol: 0, label: `${k} (nq ${nq}, nk ${nk})` });
    }
  }
  capped.destroy();
});

Deno.test("chunking: cross-entropy and every pointwise loss above the binding limit equal the unchunked kernels, forward and backward", async () => {
  const R = 600, V = 10, C = 7;
  const logits0 = randn(R * V, 31), pred0 = randn(R * C, 32), target0 = randn(R * C, 33);
  const t0 = Int32Array.from({ length: R }, (_, i) => (i * 7) % V);
  const rowValid = Uint32Array.from({ length: R }, (_, i) => (i % 9 === 0 ? 0 : 1));
  const entryValid = Uint32Array.from({ length: R * C }, (_, i) => (i % 11 === 0 ? 0 : 1));
  const run = async (g: Gpu) => {
    const made: Tensor[] = [];
    const up = (x: Float32Array | Int32Array | Uint32Array, s: number[]) => {
      const t = g.upload(x, s);
      made.push(t);
      return t;
    };
    const one = up(new Float32Array([1]), [1]);
    const out: Record<string, Float32Array> = {};
    const before = g.stats.dispatches;
    const logits = up(logits0, [R, V]), targets = up(t0, [R]);
    const ceo = { labelSmoothing: 0.1, valid: up(rowValid, [R]) };
    const ce = crossEntropyForward(logits, targets, ceo);
    out.ce = await ce.loss.read() as Float32Array;
    out.ce_grad = await crossEntropyBackward(logits, targets, ce, one, ceo).read() as Float32Array;
    const pred = up(pred0, [R, C]), target = up(target0, [R, C]);
    for (const kind of ["l1", "mse", "huber", "bce", "focal"] as const) {
      for (const [tag, valid] of [["rows", rowValid], ["entries", entryValid]] as const) {
        const o = { valid: up(valid, valid.length === R ? [R] : [R, C]) };
        const sv = pointwiseLossForward(kind, pred, target, o);
        out[`${kind}_${tag}`] = await sv.loss.read() as Float32Array;
        out[`${kind}_${tag}_grad`] = await pointwiseLossBackward(kind, pred, target, sv, one, o)
          .read() as Float32Array;
      }
    }
    const dispatches = g.stats.dispatches - before;
    for (const t of made) t.dispose();
    return { out, dispatches };
  };
  const want = await run(big), got = await run(small);
  if (!(got.dispatches > want.dispatches)) throw new Error("the capped device runs segments");
  // The totals add the segments' stats in another order: equal to rounding.
  for (const k of Object.keys(want.out)) {
    assertClose(got.out[k], want.out[k], { atol: 1e-7, rtol: 1e-5, label: k });
  }
});

Deno.test("chunking: colSum and sums of squares above the binding limit add their segments (equal to rounding)", async () => {
  const R = 1000, C = 6, x0 = randn(R * C, 41), y0 = randn(R * C, 42);
  const run = async (g: Gpu) => {
    const x = g.upload(x0, [R, C]), y = g.upload(y0, [R, C]);
    const plain = colSum(x, R, C, { alpha: 0.5 });
    const prod = colSum(x, R, C, { product: y });
    const acc = g.upload(new Float32Array(C).fill(1));
    colSum(x, R, C, { out: acc, accumulate: true });
    const r = {
      plain: await plain.read(),
      prod: await prod.read(),
      acc: await acc.read(),
      sq: await sumAll(x, { squares: true }).read(),
    };
    for (const t of [x, y, plain, prod, acc]) t.dispose();
    return r;
  };
  const want = await run(big), got = await run(small);
  for (const k of ["plain", "prod", "acc", "sq"] as const) {
    assertClose(got[k], want[k], { atol: 1e-4, rtol: 1e-5, label: k });
  }
  let ref = 0;
  for (const v of x0) ref += v * v;
  assertClose(got.sq, [ref], { rtol: 1e-5, label: "sum of squares vs float64" });
});
