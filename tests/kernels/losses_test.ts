// shaders/cross_entropy.wgsl and shaders/pointwise_loss.wgsl against the float64 references.
import {
  crossEntropyBackward,
  crossEntropyForward,
  type PointwiseLoss,
  pointwiseLossBackward,
  pointwiseLossForward,
} from "../../src/kernels/losses.ts";
import { assertClose, randn, testGpu } from "../_helpers/mod.ts";
import { numericalGrad } from "../reference/finite_diff.ts";
import { crossEntropyRef, pointwiseLossRef } from "../reference/losses.ts";

const gpu = await testGpu();
const G = gpu.upload(new Float32Array([1.5])); // upstream gradient of the mean

for (
  const [rows, V, eps, weighted] of [[5, 3, 0.1, true], [4, 16384, 0.1, false], [
    1,
    8,
    0,
    false,
  ]] as const
) {
  Deno.test(`cross_entropy rows=${rows} vocab=${V} smoothing=${eps} classWeights=${weighted}`, async () => {
    const logits = randn(rows * V, 1, -4, 4);
    const target = new Int32Array(rows).map((_, i) => (i * 7919) % V);
    if (rows > 2) target[2] = -1; // ignored row
    const valid = new Uint32Array(rows).fill(1);
    if (rows > 3) valid[3] = 0; // masked row
    const cw = weighted ? randn(V, 2, 0.2, 2) : undefined;
    const L = gpu.upload(logits, [rows, V]), T = gpu.upload(target);
    const opts = {
      valid: gpu.upload(valid),
      labelSmoothing: eps,
      classWeights: cw ? gpu.upload(cw) : undefined,
    };
    const saved = crossEntropyForward(L, T, opts);
    const ref = crossEntropyRef(logits, target, rows, V, { eps, cw, valid });
    assertClose(await saved.loss.read(), [ref.loss], { atol: 1e-5, rtol: 1e-5 });
    const grad = await crossEntropyBackward(L, T, saved, G, opts).read();
    assertClose(grad, ref.grad.map((g) => 1.5 * g), { atol: 1e-6, rtol: 1e-4 });
  });
}

Deno.test("cross_entropy with no counted row gives loss 0 and zero gradient", async () => {
  const L = gpu.upload(randn(6, 3), [2, 3]), T = gpu.upload(new Int32Array([-1, -1]));
  const saved = crossEntropyForward(L, T);
  assertClose(await saved.loss.read(), [0]);
  assertClose(await crossEntropyBackward(L, T, saved, G).read(), new Float32Array(6));
});

const KINDS: PointwiseLoss[] = ["l1", "mse", "huber", "bce", "focal"];
for (const kind of KINDS) {
  for (const perEntry of [false, true]) {
    Deno.test(`pointwise_loss ${kind} (valid per ${perEntry ? "entry" : "row"}) forward and gradient`, async () => {
      const [rows, cols] = [7, 5];
      const pred = randn(rows * cols, 3, -2, 2);
      const target = kind === "bce" || kind === "focal"
        ? randn(rows * cols, 4, 0, 1).map((t) => (t > 0.5 ? 1 : 0))
        : randn(rows * cols, 4, -2, 2);
      const valid = new Uint32Array(perEntry ? rows * cols : rows).map((
        _,
        i,
      ) => (i % 3 === 1 ? 0 : 1));
      const o = {
        delta: 0.7,
        gamma: 3,
        alpha: kind === "focal" ? 0.25 : -1,
        posWeight: kind === "focal" || kind === "bce" ? 0.778 : 1,
      };
      const P = gpu.upload(pred, [rows, cols]), T = gpu.upload(target, [rows, cols]);
      const opts = { ...o, valid: gpu.upload(valid) };
      const saved = pointwiseLossForward(kind, P, T, opts);
      const refOpts = { ...o, valid };
      assertClose(await saved.loss.read(), [
        pointwiseLossRef(kind, pred, target, rows, cols, refOpts),
      ], { atol: 1e-5, rtol: 1e-5 });
      const grad = await pointwiseLossBackward(kind, P, T, saved, G, opts).read();
      const fd = numericalGrad(
        (x) => pointwiseLossRef(kind, x, target, rows, cols, refOpts),
        Float64Array.from(pred),
        1e-6,
      );
      assertClose(grad, fd.map((g) => 1.5 * g), { atol: 1e-4, rtol: 1e-3 });
    });
  }
}
