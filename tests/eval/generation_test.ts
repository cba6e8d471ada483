// Generation metrics: exact 1-Wasserstein distances, jet observables against hand-computed
// four-vector sums, and the marginal baseline.
import assert from "node:assert";
import { jetObservables, marginalBaseline, wasserstein1 } from "../../src/eval/generation.ts";
import { assertClose, rng } from "../_helpers/mod.ts";

Deno.test("wasserstein1: shifts, unequal sizes, identical samples", () => {
  assertClose([wasserstein1([0, 1, 2], [0.5, 1.5, 2.5])], [0.5], { atol: 1e-12 });
  assertClose([wasserstein1([1, 2, 3], [3, 1, 2])], [0], { atol: 1e-12 });
  // {0, 1} vs {0}: half the mass moves by 1.
  assertClose([wasserstein1([0, 1], [0])], [0.5], { atol: 1e-12 });
  // Uniform(0,1) samples vs Uniform(0,1) + 0.3: about 0.3.
  const r = rng(5),
    a = Array.from({ length: 4000 }, r),
    b = Array.from({ length: 3000 }, () => r() + 0.3);
  assertClose([wasserstein1(a, b)], [0.3], { atol: 0.03 });
  assert.throws(() => wasserstein1([], [1]), /empty/);
});

Deno.test("jetObservables: mass, multiplicity, pT share and width from explicit four-vectors", () => {
  const parts = [[30, 0.1, -0.2], [20, -0.3, 0.05], [5, 0.4, 0.4]];
  const x = new Float32Array(2 * 4 * 3);
  parts.forEach((p, i) => x.set(p, i * 3));
  x.set([10, 0, 0], 4 * 3); // jet 1: a single particle
  const valid = [1, 1, 1, 0, 1, 0, 0, 0];
  const o = jetObservables({ n: 2, nParticles: 4, features: ["pt", "deta", "dphi"], x, valid });
  let E = 0, px = 0, py = 0, pz = 0;
  for (const [pt, eta, phi] of parts.map((p) => p.map(Math.fround))) {
    E += pt * Math.cosh(eta);
    px += pt * Math.cos(phi);
    py += pt * Math.sin(phi);
    pz += pt * Math.sinh(eta);
  }
  assertClose(o.mass, [Math.sqrt(E * E - px * px - py * py - pz * pz), 0], { atol: 1e-9 });
  assertClose(o.multiplicity, [3, 1]);
  assertClose(o.leadingPtShare, [30 / 55, 1], { atol: 1e-9 });
  const w =
    parts.reduce((s, [pt, e, f]) => s + pt * Math.hypot(Math.fround(e), Math.fround(f)), 0) / 55;
  assertClose(o.width, [w, 0], { atol: 1e-6 });
  assert.throws(
    () => jetObservables({ n: 1, nParticles: 1, features: ["pt", "deta"], x: [1, 0], valid: [1] }),
    /dphi/,
  );
});

Deno.test("marginalBaseline keeps each feature's marginal and breaks correlations", () => {
  const r = rng(2), n = 5000, pool = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) pool.set([i, i], 2 * i); // perfectly correlated columns
  const out = marginalBaseline(pool, 2, n, r);
  const col = (a: Float32Array, c: number) => Array.from({ length: n }, (_, i) => a[2 * i + c]);
  assert(wasserstein1(col(out, 0), col(pool, 0)) < 100);
  let same = 0;
  for (let i = 0; i < n; i++) if (out[2 * i] === out[2 * i + 1]) same++;
  assert(same < 10, `columns still correlated: ${same} equal pairs`);
});
