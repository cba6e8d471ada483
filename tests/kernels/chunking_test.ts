// Kernels whose operands exceed the storage binding limit run in chunks under it: every
// elementwise entry, AdamW, LayerNorm, attention, the losses, the reductions and the data
// movement kernels, on a device capped at a few KiB per binding, element for element equal to
// the same kernels on the uncapped device (and the float64 reference for AdamW).
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
import {
  concatLast,
  embeddingBackward,
  embeddingForward,
  gatherRows,
  maskCount,
  maskedSumBackward,
  maskedSumForward,
  splitLast,
} from "../../src/kernels/movement.ts";
import {
  gatedResidualForward,
  modulateBackward,
  modulateForward,
} from "../../src/kernels/modulate.ts";
import {
  splineBackward,
  splineForward,
  splineInverse,
  splineKnots,
  splineKnotsBackward,
} from "../../src/kernels/spline.ts";
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

for (const matmulPath of ["texture", "storage"] as const) {
  Deno.test(`chunking: attention (${matmulPath} path) forward and backward (fused self-attention and masked cross-attention) above the binding limit equal the unchunked kernels`, async () => {
    // Views start at aligned offsets, so segments hold a few whole sets: a 64 KiB cap here.
    const capped = await requestGpu({ maxBindingSize: 65536, matmulPath });
    const big = await requestGpu({ matmulPath });
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
    big.destroy();
  });
}

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

Deno.test("chunking: embedding, row gathers (source windows included), column copies and masked sums above the binding limit equal the unchunked kernels, forward and backward", async () => {
  // A 64 KiB cap (16384 floats): every operand below is larger, and the gather's source too.
  const capped = await requestGpu({ maxBindingSize: 65536 });
  const R = 1000, C = 24, V = 8, B = 200, N = 7;
  const table0 = randn(V * C, 51), rows0 = randn(R * C, 52), narrow0 = randn(R * 8, 53);
  const ids0 = Int32Array.from({ length: R }, (_, i) => (i % 13 === 0 ? -1 : (i * 5) % (V + 1)));
  const index0 = Int32Array.from({ length: 1200 }, (_, i) => (i % 17 === 0 ? -1 : (i * 389) % R));
  const set0 = randn(B * N * C, 54), dpool0 = randn(B * C, 55);
  const mask0 = Uint32Array.from({ length: B * N }, (_, i) => (i % 3 === 1 || i < N ? 0 : 1));
  const run = async (g: Gpu) => {
    const made: Tensor[] = [];
    const up = (x: Float32Array | Int32Array | Uint32Array, s: number[]) => {
      const t = g.upload(x, s);
      made.push(t);
      return t;
    };
    const keep = (t: Tensor) => (made.push(t), t);
    const before = g.stats.dispatches;
    const table = up(table0, [V, C]), ids = up(ids0, [R]), rows = up(rows0, [R, C]);
    const index = up(index0, [1200]);
    const acc = up(new Float32Array(1200 * C).fill(0.5), [1200, C]);
    gatherRows(rows, index, { out: acc, accumulate: true });
    const [a, b] = splitLast(keep(concatLast([rows, up(narrow0, [R, 8])])), [C, 8]);
    const mask = up(mask0, [B, N]), count = keep(maskCount(mask, B, N));
    const set = up(set0, [B, N, C]), dpool = up(dpool0, [B, C]);
    const out = {
      embed: keep(embeddingForward(table, ids)),
      dtable: keep(embeddingBackward(rows, ids, V)),
      gather: keep(gatherRows(rows, index)),
      acc,
      a: keep(a),
      b: keep(b),
      sum: keep(maskedSumForward(set, mask)),
      mean: keep(maskedSumForward(set, mask, { mean: true, count })),
      dsum: keep(maskedSumBackward(dpool, mask, N)),
      dmean: keep(maskedSumBackward(dpool, mask, N, { mean: true, count })),
    };
    const dispatches = g.stats.dispatches - before;
    const r: Record<string, Float32Array> = {};
    for (const [k, t] of Object.entries(out)) r[k] = await t.read() as Float32Array;
    for (const t of new Set(made)) t.dispose();
    return { r, dispatches };
  };
  const want = await run(big), got = await run(capped);
  if (!(got.dispatches > want.dispatches)) throw new Error("the capped device runs segments");
  for (const k of Object.keys(want.r)) {
    if (want.r[k].length * 4 <= 65536 && !["dtable", "sum", "mean", "b"].includes(k)) {
      throw new Error(`${k} must exceed the cap`);
    }
    // The table gradient adds its segments' sums: equal to rounding; everything else bit for bit.
    const tol = k === "dtable" ? { atol: 1e-5, rtol: 1e-5 } : { atol: 0, rtol: 0 };
    assertClose(got.r[k], want.r[k], { ...tol, label: k });
  }
  // The gather is the reference's: source rows by index, zeros (plus 0.5 when accumulating) at -1.
  for (let i = 0; i < 1200; i++) {
    const j = index0[i];
    for (const c of [0, C - 1]) {
      const v = j < 0 ? 0 : rows0[j * C + c];
      if (got.r.gather[i * C + c] !== v || got.r.acc[i * C + c] !== Math.fround(v + 0.5)) {
        throw new Error(`gather row ${i} (index ${j}) column ${c} is wrong`);
      }
    }
  }
  capped.destroy();
});

Deno.test("chunking: modulation, gated residual and splines (knots included) above the binding limit equal the unchunked kernels, forward and backward", async () => {
  const capped = await requestGpu({ maxBindingSize: 65536 });
  const B = 90, N = 9, D = 24, n = 3000, K = 4;
  const x0 = randn(B * N * D, 61), r0 = randn(B * N * D, 62), g0 = randn(B * N * D, 63);
  const s0 = randn(B * D, 64), t0 = randn(B * D, 65);
  const raw0 = Float32Array.from(randn(n * (3 * K - 1), 66), (v) => 0.5 * v);
  const u0 = Float32Array.from(randn(n, 67), (v) => 3 * v), gy0 = randn(n, 68);
  const gld0 = randn(n, 69), dk0 = randn(n * 3 * (K + 1), 70);
  const run = async (g: Gpu) => {
    const made: Tensor[] = [];
    const up = (v: Float32Array, s: number[]) => {
      const t = g.upload(v, s);
      made.push(t);
      return t;
    };
    const keep = (t: Tensor) => (made.push(t), t);
    const before = g.stats.dispatches;
    const x = up(x0, [B, N, D]), res = up(r0, [B, N, D]), gr = up(g0, [B, N, D]);
    const sc = up(s0, [B, D]), sh = up(t0, [B, D]);
    const mb = modulateBackward(x, sc, gr, 1);
    const shape = { bins: K, bound: 4 };
    const raw = up(raw0, [n, 3 * K - 1]), u = up(u0, [n]);
    const knots = keep(splineKnots(raw, shape));
    const fw = splineForward(u, knots, K), inv = splineInverse(u, knots, K);
    const bw = splineBackward(u, knots, K, up(gy0, [n]), up(gld0, [n]));
    const out = {
      mod: keep(modulateForward(x, sc, sh)),
      gate: keep(gatedResidualForward(res, x, sc)),
      dx: keep(mb.dx),
      ds: keep(mb.ds),
      dt: keep(mb.dt),
      knots,
      y: keep(fw.y),
      logdet: keep(fw.logdet),
      xi: keep(inv.x),
      dxs: keep(bw.dx),
      dknots: keep(bw.dknots),
      draw: keep(splineKnotsBackward(raw, up(dk0, [n, 3 * (K + 1)]), shape)),
    };
    const dispatches = g.stats.dispatches - before;
    const r: Record<string, Float32Array> = {};
    for (const [k, t] of Object.entries(out)) r[k] = await t.read() as Float32Array;
    for (const t of made) t.dispose();
    return { r, dispatches };
  };
  const want = await run(big), got = await run(capped);
  if (x0.length * 4 <= 65536 || n * 3 * (K + 1) * 4 <= 65536) {
    throw new Error("must exceed the cap");
  }
  if (!(got.dispatches > want.dispatches)) throw new Error("the capped device runs segments");
  for (const k of Object.keys(want.r)) {
    assertClose(got.r[k], want.r[k], { atol: 0, rtol: 0, label: k });
  }
  capped.destroy();
});
