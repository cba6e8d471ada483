// shaders/matmul_swiglu.wgsl (a linear layer with a fused SwiGLU epilogue, storage path) against
// the float64 reference swiglu(x wᵀ + b), bit for bit against the unfused kernels, split by rows
// above the binding limit, and the autograd op's gradients against a float64 reference backward
// that is itself checked by finite differences.
import { requestGpu } from "../../src/gpu/gpu.ts";
import { Tape } from "../../src/autograd/tape.ts";
import { linearSwiglu as linearSwigluOp } from "../../src/autograd/ops/dense.ts";
import { swigluForward } from "../../src/kernels/elementwise.ts";
import { fusedSwigluApplies, linearSwiglu } from "../../src/kernels/linear_swiglu.ts";
import { matmul } from "../../src/kernels/matmul.ts";
import { assertClose, randn } from "../_helpers/mod.ts";
import { matmulRef, swigluBackwardRef, swigluRef } from "../reference/dense.ts";
import { dot, numericalGrad } from "../reference/finite_diff.ts";

const gpu = await requestGpu({ matmulPath: "storage" });
const tol = { atol: 1e-5, rtol: 1e-4 };

/** Float64 forward: [a | b] = x wᵀ + bias, h = silu(a) * b. */
function forwardRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  rows: number,
  k: number,
  hd: number,
) {
  const ab = matmulRef(x, w, { batch: 1, m: rows, n: 2 * hd, k, transB: true, bias });
  return { ab, h: swigluRef(ab, rows, hd) };
}

/** Float64 backward of forwardRef for the upstream gradient g (rows, H). */
function backwardRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number>,
  g: ArrayLike<number>,
  rows: number,
  k: number,
  hd: number,
) {
  const { ab } = forwardRef(x, w, bias, rows, k, hd);
  const dab = swigluBackwardRef(ab, g, rows, hd);
  const dx = matmulRef(dab, w, { batch: 1, m: rows, n: k, k: 2 * hd });
  const dw = matmulRef(dab, x, { batch: 1, m: 2 * hd, n: k, k: rows, transA: true });
  const db = new Float64Array(2 * hd);
  for (let r = 0; r < rows; r++) for (let j = 0; j < 2 * hd; j++) db[j] += dab[r * 2 * hd + j];
  return { dx, dw, db };
}

Deno.test("linearSwiglu reference backward matches finite differences", () => {
  const [rows, k, hd] = [3, 4, 2];
  const x = Float64Array.from(randn(rows * k, 1, -2, 2)),
    w = Float64Array.from(randn(2 * hd * k, 2));
  const g = Float64Array.from(randn(rows * hd, 3)), b = Float64Array.from(randn(2 * hd, 4));
  const { dx, dw, db } = backwardRef(x, w, b, g, rows, k, hd);
  const f = (xs: Float64Array, ws: Float64Array, bs: Float64Array) =>
    dot(forwardRef(xs, ws, bs, rows, k, hd).h, g);
  const fd = { atol: 1e-7, rtol: 1e-6 };
  assertClose(dx, numericalGrad((v) => f(v, w, b), x), fd);
  assertClose(dw, numericalGrad((v) => f(x, v, b), w), fd);
  assertClose(db, numericalGrad((v) => f(x, w, v), b), fd);
});

for (const [rows, k, hd] of [[1, 1, 1], [37, 19, 5], [130, 70, 67], [65, 16, 130]]) {
  for (const withBias of [true, false]) {
    Deno.test(`linearSwiglu kernel ${rows}x${k} -> ${hd} (bias ${withBias}): the reference, and the unfused kernels bit for bit`, async () => {
      const x = randn(rows * k, rows, -2, 2), w = randn(2 * hd * k, k), b = randn(2 * hd, 3);
      const X = gpu.upload(x, [rows, k]), W = gpu.upload(w, [2 * hd, k]);
      const B = withBias ? gpu.upload(b) : undefined;
      const { h, ab } = linearSwiglu(X, W, B, { saveAb: true });
      const ref = forwardRef(x, w, withBias ? b : undefined, rows, k, hd);
      const hv = await h.read(), abv = await ab!.read();
      assertClose(hv, ref.h, tol);
      assertClose(abv, ref.ab, tol);
      // The unfused path: matmul (each storage kernel) then the SwiGLU kernel.
      for (const path of ["storage", "tiled", "tiled128"] as const) {
        const pre = matmul(X, W, { transB: true, bias: B, path });
        const want = await swigluForward(pre).read();
        assertClose(await pre.read(), abv, { atol: 0, rtol: 0, label: `${path} [a | b]` });
        assertClose(hv, want, { atol: 0, rtol: 0, label: `${path} h` });
      }
      // Inference: without saveAb the same h, and no pre-activations.
      const noAb = linearSwiglu(X, W, B);
      if (noAb.ab !== null) throw new Error("pre-activations written without saveAb");
      assertClose(await noAb.h.read(), hv, { atol: 0, rtol: 0 });
    });
  }
}

Deno.test("linearSwiglu splits rows above the binding limit and equals the unsplit kernel", async () => {
  const [rows, k, hd] = [700, 24, 40]; // ab: 700 x 80 x 4 bytes = 224 KB > 64 KiB
  const small = await requestGpu({ matmulPath: "storage", maxBindingSize: 65536 });
  try {
    const x = randn(rows * k, 5, -2, 2), w = randn(2 * hd * k, 6), b = randn(2 * hd, 7);
    const run = async (g: typeof gpu) => {
      const before = g.stats.dispatches;
      const { h, ab } = linearSwiglu(
        g.upload(x, [rows, k]),
        g.upload(w, [2 * hd, k]),
        g.upload(b),
        {
          saveAb: true,
        },
      );
      return { n: g.stats.dispatches - before, h: await h.read(), ab: await ab!.read() };
    };
    const whole = await run(gpu), split = await run(small);
    if (split.n < 3) throw new Error(`${split.n} dispatches: the rows were not split`);
    assertClose(split.h, whole.h, { atol: 0, rtol: 0, label: "h" });
    assertClose(split.ab, whole.ab, { atol: 0, rtol: 0, label: "ab" });
  } finally {
    small.destroy();
  }
});

Deno.test("linearSwiglu op: fused on the storage path, the two ops elsewhere; same values and gradients (float64 reference)", async () => {
  const [B, N, k, hd] = [2, 9, 12, 10];
  const x = randn(B * N * k, 8, -2, 2), w = randn(2 * hd * k, 9), b = randn(2 * hd, 10);
  const g = randn(B * N * hd, 11);
  const texture = await requestGpu({ matmulPath: "texture" });
  try {
    const results = [];
    for (const dev of [gpu, texture]) {
      const W = dev.upload(w, [2 * hd, k]), Bias = dev.upload(b);
      if (fusedSwigluApplies(W) !== (dev === gpu)) throw new Error("fused path choice");
      const tape = new Tape(dev);
      const X = tape.watch(dev.upload(x, [B, N, k]));
      tape.watch(W);
      tape.watch(Bias);
      const y = linearSwigluOp(tape, X, W, Bias);
      if (y.shape.join() !== `${B},${N},${hd}`) throw new Error(`shape ${y.shape}`);
      const yv = await y.read();
      tape.backward(y, dev.upload(g, [B, N, hd]));
      results.push({
        y: yv,
        dx: await tape.grad(X)!.read(),
        dw: await tape.grad(W)!.read(),
        db: await tape.grad(Bias)!.read(),
      });
      tape.dispose();
    }
    const rows = B * N;
    const fwd = forwardRef(x, w, b, rows, k, hd), ref = backwardRef(x, w, b, g, rows, k, hd);
    for (const [i, r] of results.entries()) {
      const label = i === 0 ? "fused" : "unfused (texture)";
      assertClose(r.y, fwd.h, { ...tol, label: `${label} y` });
      assertClose(r.dx, ref.dx, { ...tol, label: `${label} dx` });
      assertClose(r.dw, ref.dw, { ...tol, label: `${label} dw` });
      assertClose(r.db, ref.db, { ...tol, label: `${label} db` });
    }
  } finally {
    texture.destroy();
  }
});
