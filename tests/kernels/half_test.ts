// shaders/half.wgsl (f32 <-> f16 conversion, f16-operand matmul with f32 accumulation) against
// float64 references, and mixed-precision training (linear layers in f16) against the f32 path.
import { ParameterStore } from "../../src/autograd/parameters.ts";
import * as ops from "../../src/autograd/ops.ts";
import { Tape } from "../../src/autograd/tape.ts";
import { requestGpu } from "../../src/gpu/gpu.ts";
import type { Gpu } from "../../src/gpu/gpu.ts";
import { matmulHalf, toFloat, toHalf } from "../../src/kernels/half.ts";
import { randomMasking } from "../../src/data/masking.ts";
import { preset } from "../../src/mpm/config.ts";
import { MPMModel } from "../../src/mpm/model.ts";
import { prepareInputs } from "../../src/mpm/prepare.ts";
import { IdTask, RegTask } from "../../src/mpm/tasks.ts";
import { InitRng } from "../../src/nn/init.ts";
import { assertClose, randn, testGpu } from "../_helpers/mod.ts";
import { matmulRef } from "../reference/dense.ts";

const gpu = await testGpu();
if (!gpu.hasF16) throw new Error("the test adapter lacks shader-f16 (lavapipe has it)");
/** IEEE binary16 rounding (round to nearest even), as the reference for the conversions. */
const f16 = (Math as unknown as { f16round: (x: number) => number }).f16round;

Deno.test("toHalf rounds to nearest binary16 (subnormals, the largest finite value, overflow to inf) and toFloat is exact", async () => {
  const x = Float32Array.from([
    0,
    -0.5,
    1 / 3,
    65504,
    65520, // rounds up past the largest finite half
    1e6,
    -1e6,
    6e-8, // subnormal
    1e-9, // underflows to 0
    ...randn(200, 1).map((v) => v * 300),
  ]);
  const h = toHalf(gpu.upload(x));
  if (h.dtype !== "f16") throw new Error(`dtype ${h.dtype}`);
  const back = await toFloat(h).read();
  assertClose(back, Float64Array.from(x, f16), { atol: 0, rtol: 0, label: "f16 round trip" });
  if (back[4] !== Infinity || back[6] !== -Infinity) throw new Error("no overflow to inf");
});

Deno.test("f16 conversions and matmulHalf split operands above the binding limit (element ranges; batches, rows, K slices sized in bytes) and match the float64 reference", async () => {
  const small = await requestGpu({ maxBindingSize: 65536 });
  try {
    // Conversions: 40000 elements are 160 KB in f32, 80 KB in f16, both above 64 KiB.
    const x = randn(40000, 21).map((v) => v * 100);
    const before = small.stats.dispatches;
    const back = await toFloat(toHalf(small.upload(x))).read();
    if (small.stats.dispatches - before < 4) throw new Error("the conversions were not split");
    assertClose(back, Float64Array.from(x, f16), { atol: 0, rtol: 0, label: "split round trip" });
    // [batch, m, k, n, transA, transB]: rows of A and C; K slices of a transposed A; groups of
    // batches (strides of whole 256-byte units, as binding offsets need).
    const cases: [number, number, number, number, boolean, boolean][] = [
      [1, 900, 40, 50, false, true],
      [1, 40, 1100, 50, true, false],
      [3, 128, 64, 96, false, false],
    ];
    for (const [batch, m, k, n, transA, transB] of cases) {
      const a = randn(batch * m * k, m + 3), b = randn(batch * k * n, n + 4), bias = randn(n, 6);
      const A = toHalf(small.upload(a, transA ? [batch, k, m] : [batch, m, k]));
      const B = toHalf(small.upload(b, transB ? [batch, n, k] : [batch, k, n]));
      const d0 = small.stats.dispatches;
      const C = matmulHalf(A, B, { transA, transB, bias: small.upload(bias) });
      if (small.stats.dispatches - d0 < 2) throw new Error("the matmul was not split");
      const want = matmulRef(Float64Array.from(a, f16), Float64Array.from(b, f16), {
        batch,
        m,
        n,
        k,
        transA,
        transB,
        bias,
      });
      assertClose(await C.read(), want, {
        atol: 1e-4,
        rtol: 1e-4,
        label: `${batch}x${m}x${k}x${n} transA=${transA} transB=${transB}`,
      });
    }
  } finally {
    small.destroy();
  }
});

Deno.test("matmulHalf equals the float64 product of the f16-rounded operands (every transpose, ragged tiles, bias, alpha, accumulation, shared B)", async () => {
  for (const [batch, m, k, n] of [[1, 67, 35, 130], [2, 5, 19, 9], [1, 1, 1, 1]]) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const a = randn(batch * m * k, m), b = randn(batch * k * n, n), bias = randn(n, 5);
        const A = toHalf(gpu.upload(a, transA ? [batch, k, m] : [batch, m, k]));
        const B = toHalf(gpu.upload(b, transB ? [batch, n, k] : [batch, k, n]));
        const C = matmulHalf(A, B, { transA, transB, bias: gpu.upload(bias), alpha: 0.5 });
        const want = matmulRef(Float64Array.from(a, f16), Float64Array.from(b, f16), {
          batch,
          m,
          n,
          k,
          transA,
          transB,
          bias,
          alpha: 0.5,
        });
        // Only the f32 accumulation order differs from the float64 product.
        assertClose(await C.read(), want, {
          atol: 1e-5,
          rtol: 1e-5,
          label: `${batch}x${m}x${k}x${n} transA=${transA} transB=${transB}`,
        });
      }
    }
  }
  // A 2-D B shared by every batch, accumulated into an existing f32 C.
  const a = randn(3 * 4 * 6, 8), b = randn(6 * 5, 9), c0 = randn(3 * 4 * 5, 10);
  const C = gpu.upload(c0, [3, 4, 5]);
  matmulHalf(toHalf(gpu.upload(a, [3, 4, 6])), toHalf(gpu.upload(b, [6, 5])), {
    out: C,
    accumulate: true,
  });
  const ref = matmulRef(Float64Array.from(a, f16), Float64Array.from(b, f16), {
    batch: 1,
    m: 12,
    n: 5,
    k: 6,
  });
  assertClose(await C.read(), ref.map((v, i) => v + c0[i]), { atol: 1e-5, label: "shared B" });
});

/** Loss and gradient arena of one small-preset MPM step on `g` (same weights and jets). */
async function mpmStep(g: Gpu): Promise<{ loss: number; grads: Float32Array }> {
  const cfg = preset("small");
  const store = new ParameterStore(g);
  const model = new MPMModel(store, cfg);
  const rng = new InitRng(3);
  const tasks = [
    new IdTask(store, rng, model.headDim, 0.3),
    new RegTask(store, rng, model.headDim, 7),
  ];
  store.finalize();
  const B = 6, N = 128, n = 30;
  const valid = new Uint32Array(B * N);
  for (let b = 0; b < B; b++) valid.fill(1, b * N, b * N + n - b);
  const x = Float32Array.from(
    { length: B * N * 7 },
    (_, i) => valid[(i / 7) | 0] ? Math.sin(i) : 0,
  );
  const ids = Int32Array.from({ length: B * N }, (_, i) => (valid[i] ? i % 8 : 0));
  const batch = {
    size: B,
    nParticles: N,
    features: cfg.features,
    x,
    raw: x,
    ids,
    valid,
    streamIndex: 0,
  };
  const inp = prepareInputs(g, batch, randomMasking(valid, B, N, { seed: 2, fraction: 0.4 }), {
    registers: cfg.encoder.registers,
    maxParticles: cfg.maxParticles,
  });
  store.zeroGrad();
  const tape = new Tape(g);
  const pass = model.forward(tape, inp);
  const loss = ops.weightedSum(
    tape,
    tasks.map((t) => [t.loss(tape, pass, inp), t.weight] as const),
  );
  tape.backward(loss);
  const r = {
    loss: (await loss.read())[0],
    grads: await store.group("default").arena("grads").read() as Float32Array,
  };
  const bb = await store.group("backbone").arena("grads").read() as Float32Array;
  tape.dispose();
  inp.dispose();
  store.dispose();
  g.submit();
  const grads = new Float32Array(r.grads.length + bb.length);
  grads.set(r.grads);
  grads.set(bb, r.grads.length);
  return { loss: r.loss, grads };
}

Deno.test("mixed precision (precision f16: linear layers with f16 operands, f32 accumulation and master weights) matches the f32 path: loss within 1e-3, gradients within 2e-2 relative L2", async () => {
  const half = await requestGpu({ precision: "f16" });
  try {
    if (half.precision !== "f16") throw new Error("precision option ignored");
    const want = await mpmStep(gpu), got = await mpmStep(half);
    const rel = Math.abs(got.loss - want.loss) / Math.abs(want.loss);
    if (!(rel < 1e-3)) throw new Error(`loss ${got.loss} vs ${want.loss} (relative ${rel})`);
    let num = 0, den = 0;
    for (let i = 0; i < want.grads.length; i++) {
      num += (got.grads[i] - want.grads[i]) ** 2;
      den += want.grads[i] ** 2;
    }
    const err = Math.sqrt(num / den);
    if (!(err < 2e-2 && den > 0)) throw new Error(`gradient relative L2 error ${err}`);
    // And the two paths do differ (the f16 one really ran): f16 rounding moves the loss.
    if (got.loss === want.loss) throw new Error("f16 and f32 gave the identical loss");
  } finally {
    half.destroy();
  }
});
