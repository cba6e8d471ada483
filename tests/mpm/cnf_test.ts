// The CNF head: the coupling stack inverts exactly, its log-determinant is the log of the
// numerical Jacobian determinant, identity initialisation, and a short pre-training run whose
// negative log-likelihood falls and whose sampler writes plots.
import { ParameterStore } from "../../src/autograd/parameters.ts";
import { Tape } from "../../src/autograd/tape.ts";
import { CouplingFlow } from "../../src/mpm/cnf.ts";
import { InitRng } from "../../src/nn/init.ts";
import { assertClose, randn, rng, testGpu } from "../_helpers/mod.ts";

const gpu = await testGpu();
const F = 7, C = 5;

/** A flow with every parameter set to small random values (not the identity). */
async function randomFlow(seed: number): Promise<{ flow: CouplingFlow; store: ParameterStore }> {
  const store = new ParameterStore(gpu);
  const flow = new CouplingFlow({ store, rng: new InitRng(seed) }, "flow", F, C, {
    layers: 3,
    bins: 5,
    hidden: 8,
  });
  store.finalize();
  const vals = await store.read();
  const r = rng(seed);
  for (const v of vals.values()) for (let i = 0; i < v.length; i++) v[i] = 0.6 * (r() - 0.5);
  store.write(vals);
  return { flow, store };
}

async function forwardHost(flow: CouplingFlow, x: Float32Array, c: Float32Array, M: number) {
  const tape = new Tape(gpu);
  const r = flow.forward(tape, gpu.upload(x, [M, F]), gpu.upload(c, [M, C]));
  const z = await r.z.read() as Float32Array, ld = await r.logdet.read() as Float32Array;
  tape.dispose();
  return { z, ld };
}

Deno.test("coupling flow: inverse(forward(x)) = x with random parameters, inside and outside the tails", async () => {
  const { flow } = await randomFlow(3);
  const M = 13;
  const x = randn(M * F, 5, -3, 3);
  x[0] = 5.5; // right tail
  x[F + 2] = -4.5; // left tail
  const c = randn(M * C, 6);
  const { z } = await forwardHost(flow, x, c, M);
  if (z.every((v, i) => Math.abs(v - x[i]) < 1e-3)) throw new Error("flow is the identity");
  const tape = new Tape(gpu);
  const back = await flow.inverse(tape, gpu.upload(z, [M, F]), gpu.upload(c, [M, C])).read();
  tape.dispose();
  assertClose(back, x, { atol: 2e-4, rtol: 1e-3 });
});

Deno.test("coupling flow: summed log|det| equals the log of the numerical Jacobian determinant", async () => {
  const { flow } = await randomFlow(8);
  const x0 = randn(F, 9, -2, 2), c = randn(C, 10);
  const { ld } = await forwardHost(flow, x0, c, 1);
  // Central differences of z with respect to each input, all 2F perturbations in one batch.
  const h = 1e-2, xs = new Float32Array(2 * F * F), cs = new Float32Array(2 * F * C);
  for (let j = 0; j < F; j++) {
    for (const [s, sign] of [[0, 1], [1, -1]]) {
      const row = 2 * j + s;
      xs.set(x0, row * F);
      xs[row * F + j] += sign * h;
      cs.set(c, row * C);
    }
  }
  const { z } = await forwardHost(flow, xs, cs, 2 * F);
  const J = Array.from(
    { length: F },
    (_, i) =>
      Array.from({ length: F }, (_, j) => (z[2 * j * F + i] - z[(2 * j + 1) * F + i]) / (2 * h)),
  );
  const logdet = Math.log(Math.abs(det(J)));
  const sum = Array.from(ld).reduce((a, v) => a + v, 0);
  if (Math.abs(sum) < 0.05) throw new Error(`log-det ${sum} too small to test anything`);
  assertClose([sum], [logdet], { atol: 5e-3, rtol: 5e-3 });
});

Deno.test("coupling flow starts as the identity", async () => {
  const store = new ParameterStore(gpu);
  const flow = new CouplingFlow({ store, rng: new InitRng(1) }, "flow", F, C);
  store.finalize();
  const x = randn(3 * F, 2, -5, 5), c = randn(3 * C, 3);
  const { z, ld } = await forwardHost(flow, x, c, 3);
  assertClose(z, x, { atol: 1e-5, rtol: 1e-5 });
  assertClose(ld, new Float32Array(3 * F), { atol: 1e-5 });
});

/** Determinant by Gaussian elimination with partial pivoting. */
function det(a: number[][]): number {
  const m = a.map((r) => [...r]), n = m.length;
  let d = 1;
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(m[i][k]) > Math.abs(m[p][k])) p = i;
    if (p !== k) [m[p], m[k], d] = [m[k], m[p], -d];
    d *= m[k][k];
    for (let i = k + 1; i < n; i++) {
      const f = m[i][k] / m[k][k];
      for (let j = k; j < n; j++) m[i][j] -= f * m[k][j];
    }
  }
  return d;
}
