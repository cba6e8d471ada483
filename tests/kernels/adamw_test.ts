// shaders/adamw.wgsl against the torch.optim.AdamW float64 reference, with clipping.
import { adamwStep } from "../../src/kernels/adamw.ts";
import { sumAll } from "../../src/kernels/reduce.ts";
import { assertClose, randn, testGpu } from "../_helpers/mod.ts";
import { adamwRef } from "../reference/optim.ts";

const gpu = await testGpu();

for (const maxNorm of [0, 1]) {
  Deno.test(`adamw three steps match the reference (maxNorm=${maxNorm})`, async () => {
    const n = 1037;
    const p0 = randn(n, 1), P = gpu.upload(p0), M = gpu.zeros([n]), V = gpu.zeros([n]);
    const p = Float64Array.from(p0), m = new Float64Array(n), v = new Float64Array(n);
    const hp = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxNorm };
    for (let step = 1; step <= 3; step++) {
      const g = randn(n, 10 + step, -2, 2);
      const Gt = gpu.upload(g);
      const sq = sumAll(Gt, { squares: true });
      adamwStep(P, Gt, M, V, sq, { ...hp, step });
      let sumsq = 0;
      for (const x of g) sumsq += x * x;
      adamwRef(p, g, m, v, { ...hp, wd: hp.weightDecay, step, sumsq });
    }
    assertClose(await P.read(), p, { atol: 1e-6, rtol: 1e-5 });
    assertClose(await M.read(), m, { atol: 1e-6, rtol: 1e-5 });
  });
}
