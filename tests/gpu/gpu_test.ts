// The GPU runtime: errors, caches, pooling, dtypes, one submit per step, device loss.
import { bucketSize } from "../../src/gpu/buffer_pool.ts";
import { GpuDeviceLostError, GpuUnavailableError } from "../../src/gpu/errors.ts";
import { requestGpu } from "../../src/gpu/gpu.ts";
import { axpby } from "../../src/kernels/elementwise.ts";
import { ATTENTION, ELEMENTWISE } from "../../src/kernels/specs.ts";
import { assertClose, testGpu } from "../_helpers/mod.ts";

const gpu = await testGpu();

Deno.test("requestGpu without an adapter throws GpuUnavailableError naming the fix", async () => {
  const gpuApi = navigator.gpu as unknown as { requestAdapter: () => Promise<GPUAdapter | null> };
  const original = gpuApi.requestAdapter;
  gpuApi.requestAdapter = () => Promise.resolve(null);
  try {
    await requestGpu();
    throw new Error("expected GpuUnavailableError");
  } catch (e) {
    if (!(e instanceof GpuUnavailableError)) throw e;
    if (!e.message.includes("mesa-vulkan-drivers")) {
      throw new Error(`message lacks the fix: ${e.message}`);
    }
  } finally {
    gpuApi.requestAdapter = original;
  }
});

Deno.test("device limits are raised to the adapter's", () => {
  for (
    const name of [
      "maxStorageBufferBindingSize",
      "maxComputeWorkgroupStorageSize",
      "maxComputeInvocationsPerWorkgroup",
    ] as const
  ) {
    if (gpu.limits[name] !== gpu.adapter.limits[name]) {
      throw new Error(`${name}: device ${gpu.limits[name]} != adapter ${gpu.adapter.limits[name]}`);
    }
  }
});

Deno.test("tensors round-trip f32, i32, u32 (and f16 where supported)", async () => {
  assertClose(await gpu.upload(new Float32Array([1.5, -2, 3])).read(), [1.5, -2, 3], { atol: 0 });
  assertClose(await gpu.upload(new Int32Array([-7, 0, 2 ** 31 - 1])).read(), [-7, 0, 2 ** 31 - 1], {
    atol: 0,
  });
  assertClose(await gpu.upload(new Uint32Array([0, 2 ** 32 - 1])).read(), [0, 2 ** 32 - 1], {
    atol: 0,
  });
  if (gpu.hasF16) {
    const h = gpu.upload(new Float32Array([0.5, 1, 3]), [3], "f16");
    assertClose(await h.read(), [0.5, 1, 3], { atol: 0 });
  }
  const z = gpu.zeros([5]);
  assertClose(await z.read(), [0, 0, 0, 0, 0], { atol: 0 });
});

Deno.test("pipelines and bind groups are cached across steps; buffers are reused", async () => {
  const x = gpu.upload(new Float32Array(100).fill(1)),
    y = gpu.upload(new Float32Array(100).fill(2));
  const step = () => {
    const a = axpby(x, y, { alpha: 2, beta: 3 });
    const b = axpby(a, y);
    a.dispose();
    b.dispose();
    gpu.submit();
  };
  step();
  step();
  const { pipelines, bindGroups } = gpu.stats;
  const live = gpu.liveBytes;
  for (let i = 0; i < 5; i++) step();
  if (gpu.stats.pipelines !== pipelines) throw new Error("a pipeline was recompiled");
  if (gpu.stats.bindGroups !== bindGroups) {
    throw new Error("bind groups were recreated for the same buffers");
  }
  if (gpu.liveBytes !== live) throw new Error(`live bytes grew: ${live} -> ${gpu.liveBytes}`);
  // A different size reuses the pipeline (shapes are uniforms, not compiled in).
  const big = gpu.upload(new Float32Array(1000));
  await axpby(big, big).read();
  if (gpu.stats.pipelines !== pipelines) throw new Error("a new size recompiled the pipeline");
});

Deno.test("a buffer released within a step serves that step's next kernel output, and a host write into it lands after the dispatches that read it", async () => {
  gpu.submit();
  const a = gpu.upload(new Float32Array([1, 2, 3, 4]));
  gpu.submit(); // a's write is on the queue: the next step only reads it
  const b = axpby(a, a, { alpha: 1, beta: 1 }); // reads a
  const aBuffer = a.buffer;
  a.dispose();
  const c = axpby(b, b, { alpha: 0, beta: 0 }); // a kernel output: takes a's buffer
  if (c.buffer !== aBuffer) throw new Error("the released buffer was not reused within the step");
  const up = gpu.upload(new Float32Array([7, 7, 7, 7])); // an upload never takes it
  if (up.buffer === aBuffer) throw new Error("an upload took a buffer recycled in the step");
  // A host write into the recycled buffer must not reach the dispatch that read a before it.
  gpu.write(c, new Float32Array([9, 9, 9, 9]));
  const d = axpby(c, up, { alpha: 1, beta: 1 });
  assertClose(await b.read(), [2, 4, 6, 8], { atol: 0, label: "b read a's old contents" });
  assertClose(await d.read(), [16, 16, 16, 16], { atol: 0, label: "the write landed in order" });
  for (const t of [b, c, up, d]) t.dispose();
  // Clearing or copying a disposed tensor fails at once instead of touching a reused buffer.
  const e = gpu.zeros([4]);
  e.dispose();
  let threw = 0;
  for (const f of [() => gpu.clear(e), () => gpu.copy(e, gpu.empty([4]))]) {
    try {
      f();
    } catch (err) {
      if (/disposed/.test(String(err))) threw++;
    }
  }
  if (threw !== 2) throw new Error("clear/copy of a disposed tensor did not fail");
  gpu.submit();
});

Deno.test("a step records many dispatches into one submit", () => {
  const x = gpu.upload(new Float32Array(16));
  gpu.submit();
  const s0 = gpu.stats.submits, d0 = gpu.stats.dispatches;
  for (let i = 0; i < 10; i++) axpby(x, x).dispose();
  gpu.submit();
  if (gpu.stats.submits - s0 !== 1) throw new Error(`${gpu.stats.submits - s0} submits`);
  if (gpu.stats.dispatches - d0 !== 10) throw new Error(`${gpu.stats.dispatches - d0} dispatches`);
});

Deno.test("buffer sizes are bucketed with at most 12.5% waste", () => {
  for (const n of [1, 255, 256, 257, 1000, 4097, 1e6, 123456789]) {
    const b = bucketSize(n);
    if (b < n || (n > 256 && b > n * 1.125 + 1)) throw new Error(`bucket ${b} for ${n}`);
  }
});

Deno.test("a lost device surfaces as GpuDeviceLostError on the next call", async () => {
  const g = await requestGpu();
  g.device.destroy(); // simulates a driver reset
  await g.device.lost;
  await new Promise((r) => setTimeout(r, 0));
  let err: unknown;
  try {
    g.upload(new Float32Array(4));
  } catch (e) {
    err = e;
  }
  if (!(err instanceof GpuDeviceLostError)) {
    throw new Error(`expected GpuDeviceLostError, got ${err}`);
  }
});

Deno.test("reading a disposed tensor fails clearly", async () => {
  const t = gpu.upload(new Float32Array(2));
  t.dispose();
  let msg = "";
  try {
    await t.read();
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes("disposed")) throw new Error(`unexpected: ${msg}`);
});

Deno.test("empty uploads are no-ops (Deno panics on zero-byte writeBuffer)", async () => {
  const t = gpu.upload(new Float32Array(0), [0]);
  gpu.write(gpu.empty([3]), new Float32Array(0));
  await gpu.sync();
  if (t.size !== 0) throw new Error("size");
});

Deno.test("a profile times every dispatch of the steps recorded while open, by kernel, without changing results", async () => {
  if (!gpu.device.features.has("timestamp-query")) {
    throw new Error("the test adapter lacks timestamp-query (lavapipe has it)");
  }
  const x = gpu.upload(new Float32Array(4096).fill(1));
  const profile = gpu.startProfile();
  let y = x;
  for (let i = 0; i < 5; i++) y = axpby(y, x, { alpha: 2, beta: 1 }); // 3, 7, 15, 31, 63
  gpu.submit();
  const z = axpby(y, y); // a second step in the same profile
  gpu.submit();
  const p = await profile.stop();
  const after = axpby(z, z); // not timed
  const k = p.kernels.find((e) => e.kernel.endsWith(".axpby"));
  if (!k || k.dispatches !== 6 || p.dispatches !== 6) {
    throw new Error(`expected 6 timed axpby dispatches: ${JSON.stringify(p.kernels)}`);
  }
  if (!(k.ms > 0 && Math.abs(p.totalMs - k.ms) < 1e-9)) {
    throw new Error(`times: ${k.ms}, ${p.totalMs}`);
  }
  assertClose(await after.read(), new Float32Array(4096).fill(252), { atol: 0, label: "results" });
  let again = "";
  const q = gpu.startProfile();
  try {
    gpu.startProfile();
  } catch (e) {
    again = String(e);
  }
  await q.stop();
  if (!/already open/.test(again)) throw new Error("a second open profile was accepted");
});

Deno.test("a spec's constants are compiled into the shader text per value (private arrays sized by them), other overrides stay pipeline constants", () => {
  const before = gpu.stats.pipelines;
  const a = gpu.pipeline(ATTENTION, "forward", { HD4: 2 });
  const b = gpu.pipeline(ATTENTION, "forward", { HD4: 3 });
  if (a === b || gpu.stats.pipelines - before !== 2) throw new Error("one pipeline per value");
  if (gpu.pipeline(ATTENTION, "forward", { HD4: 2 }) !== a) throw new Error("not cached");
  let msg = "";
  try {
    gpu.pipeline({ ...ELEMENTWISE, constants: ["NOPE"] }, "axpby", { NOPE: 1 });
  } catch (e) {
    msg = String(e);
  }
  if (!msg.includes("NOPE")) throw new Error(`a missing constant was accepted: ${msg}`);
});
