// shaders/kmeans.wgsl against a CPU reference; the GPU fit recovers known clusters.
import { kmeansAssign, kmeansUpdate } from "../../src/kernels/kmeans.ts";
import { fitKMeans } from "../../src/mpm/kmeans.ts";
import { assertClose, randn, rng, testGpu } from "../_helpers/mod.ts";

const gpu = await testGpu();

Deno.test("kmeans assign and update match the CPU reference (odd sizes, an empty cluster)", async () => {
  const [n, k, dim] = [103, 9, 7];
  const x = randn(n * dim, 1, -2, 2), c = randn(k * dim, 2, -2, 2);
  c.fill(50, 0, dim); // centroid 0 is far away: an empty cluster
  const X = gpu.upload(x, [n, dim]), C = gpu.upload(c, [k, dim]);
  const { assign, dist } = kmeansAssign(X, C);
  const a = await assign.read(), d = await dist.read();
  const refA: number[] = [], refD: number[] = [];
  for (let i = 0; i < n; i++) {
    let best = Infinity, arg = 0;
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let q = 0; q < dim; q++) s += (x[i * dim + q] - c[j * dim + q]) ** 2;
      if (s < best) [best, arg] = [s, j];
    }
    refA.push(arg);
    refD.push(best);
  }
  assertClose(a, refA, { atol: 0 });
  assertClose(d, refD, { atol: 1e-5, rtol: 1e-5 });
  const counts = new Uint32Array(k + 1);
  for (const v of refA) counts[v + 1]++;
  for (let j = 0; j < k; j++) counts[j + 1] += counts[j];
  const fill = counts.slice(0, k), order = new Uint32Array(n);
  refA.forEach((v, i) => (order[fill[v]++] = i));
  const next = await kmeansUpdate(X, C, gpu.upload(order), gpu.upload(counts)).read();
  const ref = new Float64Array(k * dim), cnt = new Float64Array(k);
  refA.forEach((v, i) => {
    cnt[v]++;
    for (let q = 0; q < dim; q++) ref[v * dim + q] += x[i * dim + q];
  });
  for (let j = 0; j < k; j++) {
    for (let q = 0; q < dim; q++) {
      ref[j * dim + q] = cnt[j] ? ref[j * dim + q] / cnt[j] : c[j * dim + q];
    }
  }
  assertClose(next, ref, { atol: 1e-5, rtol: 1e-5 });
});

Deno.test("kmeans fit (k-means++ and random init) recovers well-separated clusters, reproducibly", async () => {
  const centers = [[0, 0, 0], [10, 0, 5], [-8, 7, 1], [3, -9, -6]];
  const r = rng(3), n = 2000, x = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let q = 0; q < 3; q++) x[i * 3 + q] = centers[i % 4][q] + 0.3 * (r() - 0.5);
  }
  for (const init of ["kmeans++", "random"] as const) {
    const a = await fitKMeans(gpu, x, 3, { k: 4, init, seed: 5 });
    const b = await fitKMeans(gpu, x, 3, { k: 4, init, seed: 5 });
    if (!a.centroids.every((v, i) => v === b.centroids[i])) {
      throw new Error("same seed, different fit");
    }
    if (init === "kmeans++") {
      for (const c of centers) {
        const near = Math.min(
          ...[0, 1, 2, 3].map((j) => Math.hypot(...c.map((v, q) => v - a.centroids[j * 3 + q]))),
        );
        if (near > 0.1) throw new Error(`center ${c} not recovered (nearest ${near})`);
      }
      if (a.inertia > 0.1) throw new Error(`inertia ${a.inertia}`);
    }
  }
});
