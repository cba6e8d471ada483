// shaders/spline.wgsl (forward, inverse, backward) against the float64 reference in
// tests/reference/spline.ts, and the backward against finite differences of that reference.
import assert from "node:assert";
import {
  splineBackward,
  splineForward,
  splineInverse,
  splineKnots,
  splineKnotsBackward,
} from "../../src/kernels/spline.ts";
import { assertClose, rng, testGpu } from "../_helpers/mod.ts";
import { dot, numericalGrad } from "../reference/finite_diff.ts";
import {
  randomKnots,
  splineInverseRef,
  splineKnotsRef,
  splineOne,
  splineRef,
} from "../reference/spline.ts";

const gpu = await testGpu();
const B = 3;

/** Inputs covering both tails, the exact ends, every interior knot, and random interior points. */
function inputs(n: number, knots: Float64Array, K: number, seed: number): Float64Array {
  const r = rng(seed), x = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * 3 * (K + 1);
    const pick = (i + 3) % 5; // element 0 is interior, so n = 1 tests the spline
    if (pick === 0) x[i] = -B - 1 - r(); // left tail
    else if (pick === 1) x[i] = B + 0.5 * r(); // right tail
    else if (pick === 2) x[i] = knots[o + 1 + (i % (K - 1 || 1))]; // exactly on an interior knot
    else x[i] = -B + 2 * B * r();
  }
  return x;
}

for (const [n, K] of [[1, 4], [67, 8], [130, 3], [5, 1]] as const) {
  Deno.test(`spline forward and inverse n=${n} bins=${K} match the float64 reference`, async () => {
    const r = rng(n * 31 + K);
    const knots = randomKnots(n, K, B, r);
    const x = inputs(n, knots, K, n + K);
    const X = gpu.upload(new Float32Array(x), [n]), KN = gpu.upload(new Float32Array(knots));
    const fwd = splineForward(X, KN, K);
    const ref = splineRef(Float32Array.from(x), Float32Array.from(knots), K);
    const y = await fwd.y.read();
    assertClose(y, ref.y, { atol: 2e-5, rtol: 1e-4 });
    assertClose(await fwd.logdet.read(), ref.logdet, { atol: 2e-4, rtol: 1e-3 });
    // Tails are the identity with zero log-det.
    for (let i = 2; i < n; i += 5) assert(y[i] === Math.fround(x[i]) && ref.logdet[i] === 0);

    const inv = splineInverse(fwd.y, KN, K);
    const invRef = splineInverseRef(y, Float32Array.from(knots), K);
    assertClose(await inv.x.read(), invRef.x, { atol: 1e-4, rtol: 1e-3 });
    assertClose(await inv.x.read(), Float32Array.from(x), { atol: 1e-4, rtol: 1e-3 });
    assertClose(await inv.logdet.read(), invRef.logdet, { atol: 1e-3, rtol: 1e-3 });
    for (const t of [X, KN, fwd.y, fwd.logdet, inv.x, inv.logdet]) t.dispose();
  });
}

Deno.test("spline backward matches finite differences of the float64 forward", async () => {
  const [n, K] = [41, 5];
  const r = rng(7);
  const knots = randomKnots(n, K, B, r);
  const x = inputs(n, knots, K, 11);
  // Keep interior points off the knots: the map is only piecewise smooth in the knot positions.
  for (let i = 0; i < n; i++) if ((i + 3) % 5 === 2) x[i] += 0.013;
  const gy = Float64Array.from({ length: n }, () => r() * 2 - 1);
  const gld = Float64Array.from({ length: n }, () => r() * 2 - 1);
  const X = gpu.upload(new Float32Array(x), [n]), KN = gpu.upload(new Float32Array(knots));
  const GY = gpu.upload(new Float32Array(gy)), GLD = gpu.upload(new Float32Array(gld));
  const { dx, dknots } = splineBackward(X, KN, K, GY, GLD);
  const stride = 3 * (K + 1), h = 1e-6;
  const loss = (i: number, xv: number, kn: Float64Array) => {
    const [y, ld] = splineOne(xv, kn, i, K);
    return gy[i] * y + gld[i] * ld;
  };
  const fdx = new Float64Array(n), fdk = new Float64Array(n * stride);
  const kn = Float64Array.from(knots);
  for (let i = 0; i < n; i++) {
    fdx[i] = (loss(i, x[i] + h, kn) - loss(i, x[i] - h, kn)) / (2 * h);
    for (let j = 0; j < stride; j++) {
      const q = i * stride + j, keep = kn[q];
      kn[q] = keep + h;
      const fp = loss(i, x[i], kn);
      kn[q] = keep - h;
      const fm = loss(i, x[i], kn);
      kn[q] = keep;
      fdk[q] = (fp - fm) / (2 * h);
    }
  }
  assertClose(await dx.read(), fdx, { atol: 2e-3, rtol: 2e-3 });
  const gk = await dknots.read();
  assertClose(gk, fdk, { atol: 2e-3, rtol: 2e-3 });
  // The gradient is not trivially zero: interior elements move their own bin's knots.
  assert(gk.some((g) => Math.abs(g) > 0.1));
  for (const t of [X, KN, GY, GLD, dx, dknots]) t.dispose();
});

for (const [n, K] of [[1, 1], [9, 8], [70, 3]] as const) {
  Deno.test(`spline_knots n=${n} bins=${K}: forward matches the reference, backward finite differences`, async () => {
    const r = rng(n + 100 * K);
    const raw = Float64Array.from({ length: n * (3 * K - 1) }, () => 3 * (r() - 0.5));
    const shape = { bins: K, bound: 4 };
    const R = gpu.upload(new Float32Array(raw), [n, 3 * K - 1]);
    const kn = splineKnots(R, shape);
    const ref = splineKnotsRef(Float32Array.from(raw), K, 4);
    assertClose(await kn.read(), ref, { atol: 2e-5, rtol: 1e-4 });
    const w = Float64Array.from(ref, () => r() * 2 - 1);
    const W = gpu.upload(new Float32Array(w));
    const g = splineKnotsBackward(R, W, shape);
    const fd = numericalGrad((x) => dot(splineKnotsRef(x, K, 4), w), raw, 1e-6);
    assertClose(await g.read(), fd, { atol: 1e-4, rtol: 1e-3 });
    for (const t of [R, kn, W, g]) t.dispose();
  });
}

Deno.test("spline_knots at raw = 0 give the identity map", async () => {
  const K = 8, n = 3;
  const kn = splineKnots(gpu.zeros([n, 3 * K - 1]), { bins: K, bound: 4 });
  const x = gpu.upload(new Float32Array([-3.9, -1.234, 0, 0.5, 2.71, 3.99, -5, 5, 1e-3]), [n, 3]);
  // Knots are per element: repeat each row's knots for its 3 elements.
  const host = await kn.read();
  const per = new Float32Array(9 * 3 * (K + 1));
  for (let e = 0; e < 9; e++) per.set(host.subarray(0, 3 * (K + 1)), e * 3 * (K + 1));
  const { y, logdet } = splineForward(x, gpu.upload(per), K);
  assertClose(await y.read(), await x.read(), { atol: 1e-5, rtol: 1e-5 });
  assertClose(await logdet.read(), new Float32Array(9), { atol: 1e-5 });
});
