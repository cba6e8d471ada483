// JetNet metrics against closed forms and direct computations.
import {
  fpd,
  frechetDistance,
  jetFeatureVectors,
  kpd,
  mmdPoly,
  relativeJets,
  relativeMasses,
  w1m,
  w1p,
} from "../../src/eval/jetnet_metrics.ts";
import { wasserstein1 } from "../../src/eval/generation.ts";
import { Rng } from "../../src/data/rng.ts";
import { assertClose } from "../_helpers/mod.ts";

Deno.test("Fréchet distance: closed forms for 1-D, commuting and non-commuting 2x2 covariances", () => {
  assertClose([frechetDistance([1], [9], [3], [4])], [4 + 1]); // (1-3)^2 + (3-2)^2
  // Diagonal: sum (sqrt a - sqrt b)^2 + |dmu|^2.
  assertClose([frechetDistance([0, 0], [4, 0, 0, 1], [1, 1], [1, 0, 0, 9])], [2 + 1 + 4]);
  // Non-commuting: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) for a 2x2 M with real eigenvalues >= 0.
  const s1 = [2, 0.7, 0.7, 1], s2 = [1.5, -0.4, -0.4, 0.8];
  const m = [
    s1[0] * s2[0] + s1[1] * s2[2],
    s1[0] * s2[1] + s1[1] * s2[3],
    s1[2] * s2[0] + s1[3] * s2[2],
    s1[2] * s2[1] + s1[3] * s2[3],
  ];
  const det = m[0] * m[3] - m[1] * m[2], tr = m[0] + m[3];
  const want = 0.25 + 0.01 + 3 + 2.3 - 2 * Math.sqrt(tr + 2 * Math.sqrt(det));
  assertClose([frechetDistance([0.5, 0], [2, 0.7, 0.7, 1], [0, 0.1], s2)], [want], { atol: 1e-12 });
});

Deno.test("unbiased polynomial MMD equals the direct double sum and vanishes in expectation for equal samples", () => {
  const x = Float64Array.from([0.1, 0.5, -0.2, 0.3, 0.9, -0.7]),
    y = Float64Array.from([0.4, 0.1, 0.2, -0.5]);
  const k = (a: number[], b: number[]) => ((a[0] * b[0] + a[1] * b[1]) / 2 + 1) ** 4;
  const X = [[0.1, 0.5], [-0.2, 0.3], [0.9, -0.7]], Y = [[0.4, 0.1], [0.2, -0.5]];
  let xx = 0, yy = 0, xy = 0;
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) if (i !== j) xx += k(X[i], X[j]);
  for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) if (i !== j) yy += k(Y[i], Y[j]);
  for (const a of X) for (const b of Y) xy += k(a, b);
  assertClose([mmdPoly(x, y, 2)], [xx / 6 + yy / 2 - (2 * xy) / 6], { atol: 1e-12 });
  const r = new Rng(1, 2), same = Float64Array.from({ length: 4000 }, () => r.n());
  const other = Float64Array.from({ length: 4000 }, () => r.n());
  const shifted = other.map((v) => v + 0.5);
  const k0 = kpd(same, other, 2, { batchSize: 500, batches: 5 });
  const k1 = kpd(same, shifted, 2, { batchSize: 500, batches: 5 });
  if (!(Math.abs(k0.value) < 3 * k0.error + 1e-3 && k1.value > 10 * Math.abs(k0.value))) {
    throw new Error(`KPD equal ${JSON.stringify(k0)}, shifted ${JSON.stringify(k1)}`);
  }
});

Deno.test("FPD extrapolates to the squared mean shift of two Gaussians", () => {
  const r = new Rng(3, 4), n = 20000;
  const a = Float64Array.from({ length: 2 * n }, () => r.n());
  const b = Float64Array.from({ length: 2 * n }, (_, i) => r.n() + (i % 2 ? 0.3 : 0));
  const f = fpd(a, b, 2, {
    minSamples: 2000,
    maxSamples: 8000,
    batches: 4,
    points: 4,
    normalise: false,
  });
  if (Math.abs(f.value - 0.09) > 0.02) throw new Error(`FPD ${JSON.stringify(f)}, want about 0.09`);
  const z = fpd(a, a, 2, {
    minSamples: 2000,
    maxSamples: 8000,
    batches: 4,
    points: 4,
    normalise: false,
  });
  if (z.value > 0.005) throw new Error(`FPD of a sample with itself: ${JSON.stringify(z)}`);
});

Deno.test("W1M and W1P: relative masses and particle features of two-particle jets, resampled", () => {
  // Jets of two equal particles at ±dphi: relative mass = sin(dphi) for pTrel 1/2 each (massless).
  const mk = (dphis: number[]) =>
    relativeJets({
      n: dphis.length,
      nParticles: 2,
      features: ["pt", "deta", "dphi"],
      x: dphis.flatMap((d) => [50, 0, d, 50, 0, -d]),
      valid: dphis.flatMap(() => [1, 1]),
    });
  const a = mk([0.1, 0.2, 0.3, 0.4]), b = mk([0.15, 0.25, 0.35, 0.45]);
  assertClose(Array.from(relativeMasses(a)), [0.1, 0.2, 0.3, 0.4].map(Math.sin), { atol: 1e-12 });
  const m = w1m(a, b, { samples: 20000, batches: 3 });
  const exact = wasserstein1(
    [0.1, 0.2, 0.3, 0.4].map(Math.sin),
    [0.15, 0.25, 0.35, 0.45].map(Math.sin),
  );
  if (Math.abs(m.value - exact) > 0.004) throw new Error(`W1M ${m.value}, exact ${exact}`);
  const [eta, phi, pt] = w1p(a, b, { samples: 20000, batches: 3 });
  if (eta.value !== 0 || pt.value !== 0) throw new Error(`eta ${eta.value}, pt ${pt.value}`);
  if (Math.abs(phi.value - 0.05) > 0.004) throw new Error(`phi W1 ${phi.value}, want 0.05`);
  const f = jetFeatureVectors(a);
  assertClose([f[0], f[1], f[3]], [Math.sin(0.1), 2, 0.5], { atol: 1e-12 });
});
