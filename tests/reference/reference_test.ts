// Every reference backward pass is checked against central finite differences of its forward.
import { assertClose } from "../_helpers/mod.ts";
import { attentionBackwardRef, attentionRef, type AttnShape } from "./attention.ts";
import {
  erfRef,
  geluGradRef,
  geluRef,
  layerNormBackwardRef,
  layerNormRef,
  matmulBackwardRef,
  matmulRef,
  siluGradRef,
  siluRef,
  swigluBackwardRef,
  swigluRef,
} from "./dense.ts";
import { data, dot, numericalGrad } from "./finite_diff.ts";
import { crossEntropyRef, pointwiseLossRef } from "./losses.ts";
import { embeddingBackwardRef, embeddingRef, maskedSumRef } from "./movement.ts";
import { randomKnots, splineInverseRef, splineOne, splineRef } from "./spline.ts";

const tol = { atol: 1e-6, rtol: 1e-5 };

Deno.test("reference matmulBackwardRef matches finite differences", () => {
  const [m, n, k] = [3, 5, 4];
  const a = data(m * k, 1), b = data(k * n, 2), bias = data(n, 3), w = data(m * n, 4);
  const { da, db, dbias } = matmulBackwardRef(a, b, w, m, n, k);
  const f = (aa: Float64Array, bb: Float64Array, cc: Float64Array) =>
    dot(matmulRef(aa, bb, { batch: 1, m, n, k, bias: cc }), w);
  assertClose(da, numericalGrad((x) => f(x, b, bias), a), tol);
  assertClose(db, numericalGrad((x) => f(a, x, bias), b), tol);
  assertClose(dbias, numericalGrad((x) => f(a, b, x), bias), tol);
});

Deno.test("reference activations (SiLU, GELU, SwiGLU) match finite differences", () => {
  const x = data(40, 5, -4, 4);
  const fd = (fn: (v: number) => number) =>
    Float64Array.from(x, (v) => (fn(v + 1e-5) - fn(v - 1e-5)) / 2e-5);
  assertClose(Float64Array.from(x, siluGradRef), fd(siluRef), tol);
  assertClose(Float64Array.from(x, geluGradRef), fd(geluRef), tol);
  const rows = 3, h = 4, w = data(rows * h, 6);
  const xs = data(rows * 2 * h, 7, -3, 3);
  assertClose(
    swigluBackwardRef(xs, w, rows, h),
    numericalGrad((v) => dot(swigluRef(v, rows, h), w), xs),
    tol,
  );
});

Deno.test("reference erf matches tabulated values", () => {
  const x = [0, 0.5, 1, 2, 3, -1];
  const erf = [
    0,
    0.5204998778130465,
    0.8427007929497149,
    0.9953222650189527,
    0.9999779095030014,
    -0.8427007929497149,
  ];
  assertClose(x.map(erfRef), erf, { atol: 1e-14, rtol: 1e-13 });
});

Deno.test("reference layerNormBackwardRef matches finite differences", () => {
  const rows = 3, cols = 6;
  const x = data(rows * cols, 8, -2, 2),
    g = data(cols, 9),
    b = data(cols, 10),
    w = data(rows * cols, 11);
  const { dx, dgamma, dbeta } = layerNormBackwardRef(x, g, w, rows, cols);
  const f = (xx: Float64Array, gg: Float64Array, bb: Float64Array) =>
    dot(layerNormRef(xx, gg, bb, rows, cols).y, w);
  assertClose(dx, numericalGrad((v) => f(v, g, b), x), tol);
  assertClose(dgamma, numericalGrad((v) => f(x, v, b), g), tol);
  assertClose(dbeta, numericalGrad((v) => f(x, g, v), b), tol);
});

Deno.test("reference attentionBackwardRef matches finite differences, with masked keys and a fully masked row", () => {
  const s: AttnShape = { batch: 2, nq: 3, nk: 4, heads: 2, headDim: 2 };
  const d = s.heads * s.headDim;
  const q = data(s.batch * s.nq * d, 12),
    k = data(s.batch * s.nk * d, 13),
    v = data(s.batch * s.nk * d, 14);
  const valid = [1, 0, 1, 1, 0, 0, 0, 0]; // jet 1 has no valid key at all
  const w = data(s.batch * s.nq * d, 15);
  const { dq, dk, dv } = attentionBackwardRef(q, k, v, valid, w, s);
  assertClose(dq, numericalGrad((x) => dot(attentionRef(x, k, v, valid, s), w), q), tol);
  assertClose(dk, numericalGrad((x) => dot(attentionRef(q, x, v, valid, s), w), k), tol);
  assertClose(dv, numericalGrad((x) => dot(attentionRef(q, k, x, valid, s), w), v), tol);
  const out = attentionRef(q, k, v, valid, s);
  assertClose(out.slice(s.nq * d), new Float64Array(s.nq * d), { atol: 0, rtol: 0 });
});

Deno.test("reference crossEntropyRef gradient matches finite differences (smoothing, class weights, ignored rows)", () => {
  const rows = 4, V = 5;
  const logits = data(rows * V, 16, -3, 3), target = [1, 4, -1, 0], cw = data(V, 17, 0.2, 2);
  const o = { eps: 0.1, cw, valid: [1, 1, 1, 0] };
  const { grad } = crossEntropyRef(logits, target, rows, V, o);
  assertClose(grad, numericalGrad((x) => crossEntropyRef(x, target, rows, V, o).loss, logits), tol);
});

Deno.test("reference crossEntropyRef equals -log softmax for one hard label", () => {
  const { loss } = crossEntropyRef([0, Math.log(3)], [1], 1, 2);
  assertClose([loss], [Math.log(4 / 3)], { atol: 1e-14 });
});

Deno.test("reference pointwise loss gradients match finite differences", () => {
  const rows = 3, cols = 4;
  const pred = data(rows * cols, 18, -2, 2), target = data(rows * cols, 19, 0, 1);
  for (const kind of ["l1", "mse", "huber", "bce", "focal"]) {
    const o = { valid: [1, 0, 1], delta: 0.5, gamma: 3, alpha: 0.25, posWeight: 0.778 };
    const g = numericalGrad((x) => pointwiseLossRef(kind, x, target, rows, cols, o), pred);
    // Invalid rows get no gradient; valid ones are finite.
    assertClose(g.slice(4, 8), new Float64Array(4), { atol: 1e-12 });
    if (g.some((v) => !Number.isFinite(v))) throw new Error(`${kind}: non-finite gradient`);
  }
});

Deno.test("reference embedding and masked-sum backward match finite differences", () => {
  const ids = [2, 0, 2, 5, -1], cols = 3, vocab = 4;
  const table = data(vocab * cols, 20), w = data(ids.length * cols, 21);
  assertClose(
    embeddingBackwardRef(w, ids, cols, vocab),
    numericalGrad((x) => dot(embeddingRef(x, ids, cols, vocab), w), table),
    tol,
  );
  const [b, n] = [2, 3], mask = [1, 0, 1, 0, 0, 0];
  const x = data(b * n * cols, 22), wm = data(b * cols, 23);
  const g = numericalGrad((v) => dot(maskedSumRef(v, mask, b, n, cols, true), wm), x);
  const expected = new Float64Array(b * n * cols);
  for (let c = 0; c < cols; c++) expected[c] = expected[2 * cols + c] = wm[c] / 2;
  assertClose(g, expected, tol);
});

Deno.test("reference spline log|det| is the log of the finite-difference slope; inverse inverts", () => {
  const K = 6, n = 20;
  let s = 3;
  const rand = () => ((s = (s * 16807) % 2147483647) / 2147483647);
  const knots = randomKnots(n, K, 3, rand);
  const x = data(n, 9, -3.5, 3.5);
  const { y, logdet } = splineRef(x, knots, K);
  const slope = Float64Array.from(x, (v, i) => {
    const f = (u: number) => splineOne(u, knots, i, K)[0];
    return Math.log((f(v + 1e-6) - f(v - 1e-6)) / 2e-6);
  });
  assertClose(logdet, slope, { atol: 1e-5, rtol: 1e-5 });
  const inv = splineInverseRef(y, knots, K);
  assertClose(inv.x, x, tol);
  assertClose(inv.logdet, logdet.map((v) => -v), { atol: 1e-5, rtol: 1e-5 });
});
