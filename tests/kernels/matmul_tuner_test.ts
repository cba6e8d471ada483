// The storage-path matmul tuner: shape classes noted by matmul, timed by tuneMatmuls, the chosen
// kernel used afterwards (seen in a profile), choices installed from a saved run, texture path
// untouched.
import { requestGpu } from "../../src/gpu/gpu.ts";
import { matmul } from "../../src/kernels/matmul.ts";
import {
  MATMUL_KERNELS,
  matmulShapeClass,
  matmulTunings,
  setMatmulTunings,
  tuneMatmuls,
} from "../../src/kernels/matmul_tuner.ts";
import { assertClose, randn } from "../_helpers/mod.ts";
import { matmulRef } from "../reference/dense.ts";

Deno.test("tuneMatmuls times all three storage kernels on each new shape class, and matmul then uses the choice (or an installed one) with the reference's result", async () => {
  const g = await requestGpu({ matmulPath: "storage" });
  try {
    const shapes = [[20, 10, 30], [130, 40, 70]] as const; // m, k, n
    const data = shapes.map(([m, k, n]) => ({ a: randn(m * k, m), b: randn(k * n, n) }));
    const run = () =>
      shapes.map(([m, k, n], i) =>
        matmul(g.upload(data[i].a, [m, k]), g.upload(data[i].b, [k, n]))
      );
    for (const t of run()) t.dispose();
    if (matmulTunings(g).size !== 0) throw new Error("choices before tuning");
    const tuned = await tuneMatmuls(g, { time: 0.005 });
    const keys = shapes.map(([m, k, n]) =>
      matmulShapeClass({ m, n, k, batch: 1, transA: false, transB: false })
    );
    if (JSON.stringify(tuned.map((t) => t.shapeClass)) !== JSON.stringify(keys)) {
      throw new Error(`tuned ${JSON.stringify(tuned)}`);
    }
    for (const t of tuned) {
      if (!MATMUL_KERNELS.every((k) => t.seconds[k] > 0)) throw new Error("untimed");
      const fastest = Math.min(...MATMUL_KERNELS.map((k) => t.seconds[k]));
      if (t.seconds[t.kernel] !== fastest) {
        throw new Error(`${t.shapeClass}: chose a slower kernel`);
      }
    }
    if ((await tuneMatmuls(g)).length !== 0) throw new Error("tuned a known class again");
    // Install every other choice for each class in turn: the profile shows that kernel running.
    for (const shift of [1, 2, 3]) {
      const want = tuned.map((t) =>
        MATMUL_KERNELS[(MATMUL_KERNELS.indexOf(t.kernel) + shift) % MATMUL_KERNELS.length]
      );
      setMatmulTunings(g, keys.map((k, i) => [k, want[i]] as const));
      const profile = g.startProfile();
      const outs = run();
      const p = await profile.stop();
      const ran = p.kernels.map((k) => k.kernel.replace("matmul.", "")).sort();
      if (JSON.stringify(ran) !== JSON.stringify([...new Set(want)].sort())) {
        throw new Error(`installed ${want}, ran ${ran}`);
      }
      for (const [i, [m, k, n]] of shapes.entries()) {
        assertClose(await outs[i].read(), matmulRef(data[i].a, data[i].b, { batch: 1, m, n, k }), {
          atol: 1e-4,
          label: `${want[i]} ${m}x${k}x${n}`,
        });
      }
    }
    let msg = "";
    try {
      setMatmulTunings(g, [[keys[0], "matmul_fast"]]);
    } catch (e) {
      msg = String(e);
    }
    if (!msg.includes("matmul_fast")) throw new Error("an unknown kernel was accepted");
  } finally {
    g.destroy();
  }
});

Deno.test("tuneMatmuls does nothing on the texture path", async () => {
  const g = await requestGpu({ matmulPath: "texture" });
  try {
    matmul(g.upload(randn(64 * 8, 1), [64, 8]), g.upload(randn(8 * 64, 2), [8, 64])).dispose();
    if ((await tuneMatmuls(g)).length !== 0 || matmulTunings(g).size !== 0) {
      throw new Error("the texture path was tuned");
    }
  } finally {
    g.destroy();
  }
});

Deno.test("the three storage kernels add each output's products in the same order: a tuning choice changes speed, not results", async () => {
  const g = await requestGpu({ matmulPath: "storage" });
  try {
    const [m, k, n] = [170, 37, 290];
    const A = g.upload(randn(m * k, 1), [m, k]), B = g.upload(randn(k * n, 2), [k, n]);
    const bias = g.upload(randn(n, 3));
    const reg = await matmul(A, B, { path: "storage", bias }).read();
    const tiled = await matmul(A, B, { path: "tiled", bias }).read();
    const big = await matmul(A, B, { path: "tiled128", bias }).read();
    assertClose(tiled, reg, { atol: 0, rtol: 0, label: "register vs tiled" });
    assertClose(big, reg, { atol: 0, rtol: 0, label: "register vs tiled128" });
  } finally {
    g.destroy();
  }
});
