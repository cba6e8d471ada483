// Kernels whose operands exceed the storage binding limit run in chunks under it: every
// elementwise entry, AdamW and LayerNorm, on a device capped at 4 KiB per binding, element for element
// equal to the same kernels on the uncapped device (and the float64 reference for AdamW).
import { requestGpu } from "../../src/gpu/gpu.ts";
import type { Gpu } from "../../src/gpu/gpu.ts";
import type { Tensor } from "../../src/gpu/tensor.ts";
import * as ew from "../../src/kernels/elementwise.ts";
import { adamwStep } from "../../src/kernels/adamw.ts";
import { layerNormBackward, layerNormForward } from "../../src/kernels/layernorm.ts";
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
