// shaders/elementwise.wgsl and shaders/reduce.wgsl against the float64 references.
import * as E from "../../src/kernels/elementwise.ts";
import { colSum, ratio, sumAll } from "../../src/kernels/reduce.ts";
import { assertClose, randn, testGpu } from "../_helpers/mod.ts";
import {
  geluGradRef,
  geluRef,
  siluGradRef,
  siluRef,
  swigluBackwardRef,
  swigluRef,
} from "../reference/dense.ts";

const gpu = await testGpu();
const [R, C] = [7, 13]; // odd sizes: not multiples of the 64-wide workgroup
const x = randn(R * C, 1, -4, 4), y = randn(R * C, 2), v = randn(C, 3);
const X = gpu.upload(x, [R, C]), Y = gpu.upload(y, [R, C]), V = gpu.upload(v, [C]);
const tol = { atol: 2e-6, rtol: 2e-6 };

Deno.test("elementwise axpby / mul / scale / accumulate", async () => {
  assertClose(
    await E.axpby(X, Y, { alpha: 2, beta: -3 }).read(),
    x.map((a, i) => 2 * a - 3 * y[i]),
    tol,
  );
  assertClose(await E.mul(X, Y, { alpha: 0.5 }).read(), x.map((a, i) => 0.5 * a * y[i]), tol);
  assertClose(await E.scale(X, -1.5).read(), x.map((a) => -1.5 * a), tol);
  const acc = gpu.upload(y, [R, C]);
  E.accumulate(acc, X, 2);
  assertClose(await acc.read(), y.map((a, i) => a + 2 * x[i]), tol);
});

Deno.test("elementwise broadcasts and residual with LayerScale", async () => {
  assertClose(await E.addBroadcast(X, V).read(), x.map((a, i) => a + v[i % C]), tol);
  assertClose(await E.mulBroadcast(X, V).read(), x.map((a, i) => a * v[i % C]), tol);
  assertClose(await E.residualScale(X, Y, V).read(), x.map((a, i) => a + y[i] * v[i % C]), tol);
});

Deno.test("elementwise SiLU and GELU, forward and backward", async () => {
  assertClose(await E.siluForward(X).read(), Array.from(x, siluRef), tol);
  assertClose(
    await E.siluBackward(X, Y).read(),
    Array.from(x, (a, i) => y[i] * siluGradRef(a)),
    tol,
  );
  assertClose(await E.geluForward(X).read(), Array.from(x, geluRef), { atol: 1e-6, rtol: 1e-5 });
  assertClose(await E.geluBackward(X, Y).read(), Array.from(x, (a, i) => y[i] * geluGradRef(a)), {
    atol: 1e-6,
    rtol: 1e-5,
  });
});

Deno.test("elementwise SwiGLU forward and backward", async () => {
  const h = 5, rows = 3;
  const xs = randn(rows * 2 * h, 4, -3, 3), dy = randn(rows * h, 5);
  const Xs = gpu.upload(xs, [rows, 2 * h]);
  assertClose(await E.swigluForward(Xs).read(), swigluRef(xs, rows, h), tol);
  assertClose(
    await E.swigluBackward(Xs, gpu.upload(dy, [rows, h])).read(),
    swigluBackwardRef(xs, dy, rows, h),
    tol,
  );
});

Deno.test("reduce colSum (plain, product, accumulate) and sumAll of many elements", async () => {
  const ref = new Float64Array(C), refp = new Float64Array(C);
  for (let i = 0; i < R * C; i++) {
    ref[i % C] += x[i];
    refp[i % C] += x[i] * y[i];
  }
  assertClose(await colSum(X, R, C).read(), ref, { atol: 1e-5 });
  assertClose(await colSum(X, R, C, { product: Y }).read(), refp, { atol: 1e-5 });
  const out = gpu.upload(v);
  colSum(X, R, C, { out, accumulate: true, alpha: 2 });
  assertClose(await out.read(), ref.map((s, c) => v[c] + 2 * s), { atol: 1e-5 });
  const n = 100003, big = randn(n, 6);
  let s = 0, sq = 0;
  for (const b of big) {
    s += b;
    sq += b * b;
  }
  const B = gpu.upload(big);
  assertClose(await sumAll(B).read(), [s], { atol: 1e-3 });
  assertClose(await sumAll(B, { squares: true }).read(), [sq], { atol: 1e-2, rtol: 1e-5 });
});

Deno.test("reduce ratio gives the mean, and 0 when nothing is counted", async () => {
  assertClose(await ratio(gpu.upload(new Float32Array([6, 4]))).read(), [1.5]);
  assertClose(await ratio(gpu.upload(new Float32Array([0, 0]))).read(), [0]);
});

Deno.test("elementwise dropout keeps u >= p scaled by 1/(1-p); absdiff forward and backward", async () => {
  const u = randn(R * C, 7, 0, 1), U = gpu.upload(u, [R, C]);
  assertClose(
    await E.dropoutApply(X, U, 0.3).read(),
    x.map((a, i) => (u[i] >= 0.3 ? a / 0.7 : 0)),
    tol,
  );
  assertClose(await E.absDiffForward(X, Y).read(), x.map((a, i) => Math.abs(a - y[i])), tol);
  const g = randn(R * C, 8), G = gpu.upload(g, [R, C]);
  assertClose(
    await E.absDiffBackward(X, Y, G, 1).read(),
    x.map((a, i) => g[i] * Math.sign(a - y[i])),
    tol,
  );
  assertClose(
    await E.absDiffBackward(X, Y, G, -1).read(),
    x.map((a, i) => -g[i] * Math.sign(a - y[i])),
    tol,
  );
});
