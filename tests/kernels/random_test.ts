// shaders/random.wgsl (Philox4x32-10) against a BigInt reference and known-answer vectors.
import { randomNormal, randomUniform } from "../../src/kernels/random.ts";
import { assertClose, testGpu } from "../_helpers/mod.ts";
import { normalRef, philoxRef, uniformRef } from "../reference/random.ts";

const gpu = await testGpu();

Deno.test("random Philox reference reproduces the Random123 known-answer vectors", () => {
  // Random123 kat_vectors: philox4x32 10 rounds.
  assertClose(philoxRef([0, 0, 0, 0], [0, 0]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8], {
    atol: 0,
  });
  assertClose(
    philoxRef([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]),
    [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
    { atol: 0 },
  );
});

Deno.test("random uniform and normal match the reference bit-for-bit in stream position", async () => {
  const key = { seed: 2 ** 33 + 12345, stream: 7, offset: 2 ** 32 - 10 }; // offset carries into the high word
  const u = await randomUniform(gpu, [1001], key).read();
  assertClose(u, uniformRef(1001, key.seed, key.stream, key.offset), { atol: 1e-7, rtol: 0 });
  const z = await randomNormal(gpu, [999], key).read();
  assertClose(z, normalRef(999, key.seed, key.stream, key.offset), { atol: 2e-5, rtol: 1e-5 });
});

Deno.test("random draws are reproducible, and a split draw equals one long draw", async () => {
  const key = { seed: 1, stream: 0, offset: 0 };
  const a = await randomUniform(gpu, [500], key).read();
  const b = await randomUniform(gpu, [500], key).read();
  assertClose(a, b, { atol: 0 });
  const first = await randomUniform(gpu, [200], key).read();
  const rest = await randomUniform(gpu, [300], { ...key, offset: 200 }).read();
  assertClose([...first, ...rest], a, { atol: 0 });
  const other = await randomUniform(gpu, [500], { ...key, stream: 1 }).read();
  if (other.every((v, i) => v === a[i])) throw new Error("streams must differ");
});

Deno.test("random normal has mean 0 and variance 1 over 200k draws", async () => {
  const z = await randomNormal(gpu, [200000], { seed: 3, stream: 1, offset: 0 }).read();
  let s = 0, s2 = 0;
  for (const v of z) {
    s += v;
    s2 += v * v;
  }
  const mean = s / z.length, variance = s2 / z.length - mean * mean;
  if (Math.abs(mean) > 0.01 || Math.abs(variance - 1) > 0.02) {
    throw new Error(`mean ${mean} var ${variance}`);
  }
});

Deno.test("random fills tensors above the binding limit in chunks with the same stream", async () => {
  const { requestGpu } = await import("../../src/gpu/gpu.ts");
  const small = await requestGpu({ maxBindingSize: 4096 });
  const key = { seed: 5, stream: 2, offset: 17 };
  const z = await randomUniform(small, [3001], key).read();
  small.destroy();
  assertClose(z, uniformRef(3001, key.seed, key.stream, key.offset), { atol: 1e-7, rtol: 0 });
});

Deno.test("random row layout: each row draws from its own counter range (64-bit products, carries, chunks of whole rows above the binding limit)", async () => {
  // 5000 rows of 3 with 2^20 counters per row: row offsets pass 2^32, and the base offset
  // carries into the high word.
  const key = { seed: 9, stream: 4, offset: 2 ** 32 - 5, rows: { length: 3, stride: 2 ** 20 } };
  const u = await randomUniform(gpu, [5000, 3], key).read();
  assertClose(u, uniformRef(15000, key.seed, key.stream, key.offset, key.rows), {
    atol: 1e-7,
    rtol: 0,
  });
  // Row r equals a contiguous draw at offset + r * stride.
  const row4999 = await randomUniform(gpu, [3], {
    seed: 9,
    stream: 4,
    offset: key.offset + 4999 * 2 ** 20,
  }).read();
  assertClose(u.subarray(14997), row4999, { atol: 0 });
  const { requestGpu } = await import("../../src/gpu/gpu.ts");
  const small = await requestGpu({ maxBindingSize: 4096 });
  const k7 = { seed: 5, stream: 2, offset: 11, rows: { length: 7, stride: 100 } };
  const z = await randomUniform(small, [431, 7], k7).read();
  small.destroy();
  assertClose(z, uniformRef(431 * 7, k7.seed, k7.stream, k7.offset, k7.rows), {
    atol: 1e-7,
    rtol: 0,
  });
  let msg = "";
  try {
    randomUniform(gpu, [4, 8], { seed: 1, stream: 0, offset: 0, rows: { length: 8, stride: 4 } });
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes("row layout of 8 elements in 4 counters")) throw new Error(msg);
});
