// shaders/vq_ema.wgsl (cosine-codebook EMA update with dead-code replacement) against the
// float64 reference: odd sizes, codes with no vectors, dead codes, dim at the 64 limit, and an
// empty batch.
import { ShapeError } from "../../src/gpu/errors.ts";
import { vqEmaUpdate } from "../../src/kernels/vq.ts";
import { assertClose, randn, rng, testGpu } from "../_helpers/mod.ts";
import { vqEmaRef } from "../reference/vq.ts";

const gpu = await testGpu();

async function check(n: number, k: number, dim: number, seed: number, decay = 0.8) {
  const r = rng(seed);
  const z = randn(n * dim, seed, -2, 2);
  // Codes 0..k/3 receive nothing; sizes straddle the threshold so some codes die.
  const assign = Int32Array.from({ length: n }, () => Math.floor(k / 3 + r() * (k - k / 3)) % k);
  const size = Float32Array.from({ length: k }, () => 4 * r());
  const avg = randn(k * dim, seed + 1);
  const S = gpu.upload(size), A = gpu.upload(avg, [k, dim]), C = gpu.zeros([k, dim]);
  const o = { decay, threshold: 2, seed: 1000 + seed };
  vqEmaUpdate(gpu.upload(z, [n, dim]), gpu.upload(assign), S, A, C, o);
  const ref = vqEmaRef(z, assign, size, avg, dim, o);
  assertClose(await S.read(), ref.size, { atol: 1e-5, rtol: 1e-5 });
  assertClose(await A.read(), ref.avg, { atol: 1e-5, rtol: 1e-4 });
  assertClose(await C.read(), ref.codebook, { atol: 1e-5, rtol: 1e-4 });
  const dead = Array.from(ref.size).filter((s) => s === 2).length;
  return { dead, live: k - dead };
}

Deno.test("vq EMA update matches the float64 reference (dead and live codes, odd sizes)", async () => {
  const a = await check(37, 13, 5, 1);
  const b = await check(200, 70, 32, 2);
  await check(9, 3, 64, 3, 0.5); // dim at the 64 limit, another decay
  for (const [name, s] of [["a", a], ["b", b]] as const) {
    if (!s.dead || !s.live) {
      throw new Error(`case ${name} needs dead and live codes: ${JSON.stringify(s)}`);
    }
  }
});

Deno.test("vq EMA update with an empty batch only decays (no replacement source)", async () => {
  const k = 5, dim = 4;
  const size = new Float32Array([3, 1, 5, 0.5, 10]), avg = randn(k * dim, 4);
  const S = gpu.upload(size), A = gpu.upload(avg, [k, dim]), C = gpu.zeros([k, dim]);
  const o = { decay: 0.8, threshold: 2, seed: 1 };
  vqEmaUpdate(gpu.zeros([0, dim]), gpu.zeros([0], "i32"), S, A, C, o);
  const ref = vqEmaRef([], [], size, avg, dim, o);
  assertClose(await S.read(), ref.size, { atol: 1e-6 });
  assertClose(await C.read(), ref.codebook, { atol: 1e-5 });
});

Deno.test("vq EMA update rejects vectors wider than 64", () => {
  let err: unknown;
  try {
    vqEmaUpdate(
      gpu.zeros([2, 65]),
      gpu.zeros([2], "i32"),
      gpu.zeros([3]),
      gpu.zeros([3, 65]),
      gpu.zeros([3, 65]),
      {
        decay: 0.8,
        threshold: 2,
        seed: 0,
      },
    );
  } catch (e) {
    err = e;
  }
  if (!(err instanceof ShapeError)) throw new Error("expected a ShapeError");
});
