// shaders/movement.wgsl against the references.
import {
  concatLast,
  embeddingBackward,
  embeddingForward,
  gatherRows,
  maskCount,
  maskedSumBackward,
  maskedSumForward,
  maskScan,
  splitLast,
} from "../../src/kernels/movement.ts";
import { assertClose, randn, testGpu } from "../_helpers/mod.ts";
import {
  embeddingBackwardRef,
  embeddingRef,
  maskedSumRef,
  maskScanRef,
} from "../reference/movement.ts";

const gpu = await testGpu();

Deno.test("movement embedding lookup and gradient (out-of-range ids give zeros)", async () => {
  const [vocab, cols] = [8, 5];
  const table = randn(vocab * cols, 1), ids = new Int32Array([3, 0, 7, 3, -1, 9, 3]);
  const dout = randn(ids.length * cols, 2);
  const T = gpu.upload(table, [vocab, cols]), I = gpu.upload(ids);
  assertClose(await embeddingForward(T, I).read(), embeddingRef(table, ids, cols, vocab));
  assertClose(
    await embeddingBackward(gpu.upload(dout, [ids.length, cols]), I, vocab).read(),
    embeddingBackwardRef(dout, ids, cols, vocab),
    { atol: 1e-6 },
  );
});

Deno.test("movement maskScan ranks, compacts and inverts; gatherRows round-trips", async () => {
  const [batch, n, nOut] = [4, 9, 6];
  const mask = new Uint32Array(batch * n).map((_, i) => ((i * 37) % 5 < 3 ? 1 : 0));
  mask.fill(0, 0, n); // an empty jet
  mask.fill(1, n, 2 * n); // a full jet (more than nOut set entries)
  const scan = maskScan(gpu.upload(mask), batch, n, nOut);
  const ref = maskScanRef(mask, batch, n, nOut);
  assertClose(await scan.rank.read(), ref.rank, { atol: 0 });
  assertClose(await scan.fwd.read(), ref.fwd, { atol: 0 });
  assertClose(await scan.inv.read(), ref.inv, { atol: 0 });
  assertClose(await scan.count.read(), ref.count, { atol: 0 });
  const cols = 3, x = randn(batch * n * cols, 3);
  const X = gpu.upload(x, [batch * n, cols]);
  const compact = gatherRows(X, scan.fwd);
  const back = await gatherRows(compact, scan.inv).read();
  const expected = x.map((v, i) => (ref.inv[Math.floor(i / cols)] >= 0 ? v : 0));
  assertClose(back, expected, { atol: 0 });
});

Deno.test("movement concatLast / splitLast are inverse", async () => {
  const a = randn(4 * 3, 4), b = randn(4 * 5, 5);
  const A = gpu.upload(a, [2, 2, 3]), B = gpu.upload(b, [2, 2, 5]);
  const ab = concatLast([A, B]);
  if (ab.shape.join() !== "2,2,8") throw new Error(`shape ${ab.shape}`);
  const [a2, b2] = splitLast(ab, [3, 5]);
  assertClose(await a2.read(), a, { atol: 0 });
  assertClose(await b2.read(), b, { atol: 0 });
});

for (const mean of [false, true]) {
  Deno.test(`movement masked ${mean ? "mean" : "sum"} over the set axis and its gradient`, async () => {
    const [batch, n, cols] = [3, 5, 4];
    const mask = new Uint32Array([1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]); // jet 1 empty
    const x = randn(batch * n * cols, 6), dout = randn(batch * cols, 7);
    const M = gpu.upload(mask), count = maskCount(M, batch, n);
    const out = maskedSumForward(gpu.upload(x, [batch, n, cols]), M, { mean, count });
    assertClose(await out.read(), maskedSumRef(x, mask, batch, n, cols, mean), { atol: 1e-6 });
    const dx = await maskedSumBackward(gpu.upload(dout, [batch, cols]), M, n, { mean, count })
      .read();
    const cnt = [3, 0, 1];
    const exp = new Float64Array(batch * n * cols).map((_, i) => {
      const e = Math.floor(i / cols), b = Math.floor(e / n);
      return mask[e] ? dout[b * cols + (i % cols)] / (mean ? cnt[b] : 1) : 0;
    });
    assertClose(dx, exp, { atol: 1e-6 });
  });
}
