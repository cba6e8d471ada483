// shaders/matmul.wgsl (register-tiled `matmul`, shared-memory `matmul_tiled` and the 128x128
// `matmul_tiled128`) and shaders/matmul_tex.wgsl against the float64 reference.
import { requestGpu } from "../../src/gpu/gpu.ts";
import { matmul, storageEntry } from "../../src/kernels/matmul.ts";
import { colSum } from "../../src/kernels/reduce.ts";
import { maskScan } from "../../src/kernels/movement.ts";
import { assertClose, randn, testGpu } from "../_helpers/mod.ts";
import { matmulBackwardRef, matmulRef } from "../reference/dense.ts";

const gpu = await testGpu();
const PATHS = ["storage", "tiled", "tiled128", "texture"] as const;

const CASES = [
  { batch: 1, m: 1, k: 1, n: 1 },
  { batch: 1, m: 37, k: 19, n: 23 },
  { batch: 3, m: 5, k: 7, n: 9 },
  { batch: 2, m: 17, k: 33, n: 6 },
  // Several 64x64 tiles with ragged edges and a K that is not a multiple of the 16-wide slice.
  { batch: 2, m: 67, k: 35, n: 130 },
  { batch: 1, m: 128, k: 16, n: 64 },
  // Several 128x128 tiles with ragged edges, K not a multiple of the 8-wide slice, one slice only.
  { batch: 2, m: 131, k: 21, n: 259 },
  { batch: 1, m: 200, k: 5, n: 129 },
  // Every dimension a multiple of 4, so the shared-memory kernels load vec4s (`_vec4` entries):
  // ragged 64- and 128-tiles, K a multiple of 4 but not of the slice (8 or 16), one slice only.
  { batch: 2, m: 132, k: 20, n: 260 },
  { batch: 1, m: 260, k: 4, n: 136 },
];

for (const path of PATHS) {
  for (const c of CASES) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        Deno.test(`matmul (${path}) ${c.batch}x${c.m}x${c.k}x${c.n} transA=${transA} transB=${transB}`, async () => {
          const a = randn(c.batch * c.m * c.k, 1),
            b = randn(c.batch * c.k * c.n, 2),
            bias = randn(c.n, 3);
          const A = gpu.upload(a, transA ? [c.batch, c.k, c.m] : [c.batch, c.m, c.k]);
          const B = gpu.upload(b, transB ? [c.batch, c.n, c.k] : [c.batch, c.k, c.n]);
          const Bias = gpu.upload(bias);
          const C = matmul(A, B, { transA, transB, bias: Bias, alpha: 0.5, path });
          assertClose(await C.read(), matmulRef(a, b, { ...c, transA, transB, bias, alpha: 0.5 }), {
            atol: 1e-5,
          });
          for (const t of [A, B, Bias, C]) t.dispose();
        });
      }
    }
  }

  Deno.test(`matmul (${path}) shares a 2-D B across batches and accumulates`, async () => {
    const [batch, m, k, n] = [3, 6, 5, 7];
    const a = randn(batch * m * k, 4), b = randn(k * n, 5), c0 = randn(batch * m * n, 6);
    const A = gpu.upload(a, [batch, m, k]),
      B = gpu.upload(b, [k, n]),
      C = gpu.upload(c0, [batch, m, n]);
    matmul(A, B, { out: C, accumulate: true, path });
    const ref = matmulRef(a, b, { batch, m, n, k, bBatched: false });
    assertClose(await C.read(), ref.map((v, i) => v + c0[i]), { atol: 1e-5 });
  });

  Deno.test(`matmul (${path}) backward by composition matches matmulBackwardRef`, async () => {
    const [m, k, n] = [13, 9, 11];
    const a = randn(m * k, 7), b = randn(k * n, 8), dc = randn(m * n, 9);
    const A = gpu.upload(a, [m, k]), B = gpu.upload(b, [k, n]), dC = gpu.upload(dc, [m, n]);
    const ref = matmulBackwardRef(
      Float64Array.from(a),
      Float64Array.from(b),
      Float64Array.from(dc),
      m,
      n,
      k,
    );
    assertClose(await matmul(dC, B, { transB: true, path }).read(), ref.da, { atol: 1e-5 });
    assertClose(await matmul(A, dC, { transA: true, path }).read(), ref.db, { atol: 1e-5 });
    assertClose(await colSum(dC, m, n).read(), ref.dbias, { atol: 1e-5 });
  });
}

Deno.test("matmul's shared-memory kernels load vec4s exactly when both operands' contiguous dimensions are multiples of 4", () => {
  if (storageEntry("matmul_tiled", { m: 64, n: 64, k: 8 }, {}) !== "matmul_tiled_vec4") {
    throw new Error("64x64 kernel");
  }
  if (storageEntry("matmul", { m: 256, n: 256, k: 64 }, {}) !== "matmul") {
    throw new Error("register");
  }
  const entry = (m: number, n: number, k: number, transA: boolean, transB: boolean) =>
    storageEntry("matmul_tiled128", { m, n, k }, { transA, transB });
  // A's contiguous dimension is K (M when transposed), B's is N (K when transposed).
  if (entry(132, 260, 20, false, false) !== "matmul_tiled128_vec4") throw new Error("NN aligned");
  if (entry(132, 260, 21, false, false) !== "matmul_tiled128") throw new Error("NN, K odd");
  if (entry(131, 260, 20, false, false) !== "matmul_tiled128_vec4") throw new Error("NN, M free");
  if (entry(131, 260, 20, true, false) !== "matmul_tiled128") throw new Error("TN, M odd");
  if (entry(132, 259, 20, false, true) !== "matmul_tiled128_vec4") throw new Error("NT, N free");
  if (entry(132, 259, 20, false, false) !== "matmul_tiled128") throw new Error("NN, N odd");
});

Deno.test("matmul's shared-memory kernels give the same bits with vec4 and with scalar loads (vec4Loads: false)", async () => {
  const [batch, m, k, n] = [2, 132, 20, 260];
  const a = randn(batch * m * k, 21), b = randn(batch * k * n, 22), bias = randn(n, 23);
  for (const path of ["tiled", "tiled128"] as const) {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
      const A = gpu.upload(a, transA ? [batch, k, m] : [batch, m, k]);
      const B = gpu.upload(b, transB ? [batch, n, k] : [batch, k, n]);
      const Bias = gpu.upload(bias);
      const o = { transA, transB, bias: Bias, alpha: 0.5, path };
      const vec4 = await matmul(A, B, o).read();
      const scalar = await matmul(A, B, { ...o, vec4Loads: false }).read();
      assertClose(vec4, scalar, { atol: 0, rtol: 0, label: `${path} ${transA}${transB}` });
      for (const t of [A, B, Bias]) t.dispose();
    }
  }
  // They are two entry points: on a fresh device each call compiles its own.
  const g = await requestGpu({ matmulPath: "storage" });
  try {
    const A = g.upload(a, [batch, m, k]), B = g.upload(b, [batch, k, n]);
    // [vec4Loads, compiles a new pipeline]
    for (const [vec4Loads, compiles] of [[true, true], [false, true], [true, false]]) {
      const before = g.stats.pipelines;
      matmul(A, B, { path: "tiled128", vec4Loads }).dispose();
      if ((g.stats.pipelines > before) !== compiles) {
        throw new Error(`vec4Loads ${vec4Loads}: ${g.stats.pipelines - before} compiled`);
      }
    }
  } finally {
    g.destroy();
  }
});

Deno.test("matmul (texture) splits operands taller than the 16384-row texture limit", async () => {
  // M and K above the limit force chunking over rows and over K (with accumulation).
  const [m, k, n] = [16389, 5, 3];
  const a = randn(m * k, 10), b = randn(k * n, 11);
  const A = gpu.upload(a, [m, k]), B = gpu.upload(b, [k, n]);
  assertClose(
    await matmul(A, B, { path: "texture" }).read(),
    matmulRef(a, b, { batch: 1, m, n, k }),
    { atol: 1e-5 },
  );
  const [m2, k2, n2] = [4, 16390, 5];
  const a2 = randn(m2 * k2, 12), b2 = randn(k2 * n2, 13);
  const A2 = gpu.upload(a2, [k2, m2]), B2 = gpu.upload(b2, [k2, n2]);
  assertClose(
    await matmul(A2, B2, { transA: true, path: "texture" }).read(),
    matmulRef(a2, b2, { batch: 1, m: m2, n: n2, k: k2, transA: true }),
    { atol: 1e-3, rtol: 1e-4 },
  );
});

Deno.test("matmul rejects mismatched inner dimensions with a message naming both shapes", () => {
  const A = gpu.empty([2, 3]), B = gpu.empty([4, 5]);
  let msg = "";
  try {
    matmul(A, B);
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes("[2,3]") || !msg.includes("[4,5]")) {
    throw new Error(`unexpected message: ${msg}`);
  }
});

Deno.test("matmul (texture) chunks operands above the storage binding limit (all transposes, batched)", async () => {
  const small = await requestGpu({ matmulPath: "texture", maxBindingSize: 64 * 1024 });
  const [batch, m, k, n] = [2, 300, 90, 200]; // each operand > 64 KiB
  const a = randn(batch * m * k, 14), b = randn(batch * k * n, 15), bias = randn(n, 16);
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const A = small.upload(a, transA ? [batch, k, m] : [batch, m, k]);
      const B = small.upload(b, transB ? [batch, n, k] : [batch, k, n]);
      const C = matmul(A, B, { transA, transB, bias: small.upload(bias) });
      assertClose(await C.read(), matmulRef(a, b, { batch, m, n, k, transA, transB, bias }), {
        atol: 2e-5,
        rtol: 1e-4,
        label: `transA=${transA} transB=${transB}`,
      });
    }
  }
  small.destroy();
});

Deno.test("binding a tensor above the storage binding limit fails with a clear message (a kernel that does not chunk)", async () => {
  const small = await requestGpu({ maxBindingSize: 1024 });
  const mask = small.upload(new Uint32Array(1000).fill(1), [20, 50]);
  let msg = "";
  try {
    maskScan(mask, 20, 50); // the mask scans bind their (B, N) masks whole
  } catch (e) {
    msg = (e as Error).message;
  }
  small.destroy();
  if (!msg.includes("binding limit") || !msg.includes("smaller batch")) {
    throw new Error(`unexpected: ${msg}`);
  }
});

Deno.test("matmul on a storage-path device picks the tiled kernel once M and N reach 64, and both give the reference's result", async () => {
  const g = await requestGpu({ matmulPath: "storage" });
  try {
    // [m, k, n, compiles a new kernel]: register kernel, then the tiled one, then tiled again;
    // then its vec4-load entry (K and N multiples of 4), then that again.
    const cases: [number, number, number, boolean][] = [
      [63, 20, 200, true],
      [64, 21, 64, true],
      [150, 70, 90, false],
      [200, 9, 63, false],
      [128, 20, 64, true],
      [72, 8, 100, false],
    ];
    for (const [m, k, n, compiles] of cases) {
      const a = randn(m * k, m), b = randn(k * n, n);
      const A = g.upload(a, [m, k]), B = g.upload(b, [k, n]);
      const before = g.stats.pipelines;
      const C = matmul(A, B);
      assertClose(await C.read(), matmulRef(a, b, { batch: 1, m, n, k }), { atol: 1e-4 });
      if ((g.stats.pipelines > before) !== compiles) {
        throw new Error(`${m}x${k}x${n}: ${g.stats.pipelines - before} kernels compiled`);
      }
      for (const t of [A, B, C]) t.dispose();
    }
  } finally {
    g.destroy();
  }
});

Deno.test("matmul (storage and tiled kernels) splits operands above the storage binding limit: rows of A and C, slices of K for a transposed A, groups of batches", async () => {
  const g = await requestGpu({ matmulPath: "storage", maxBindingSize: 64 * 1024 });
  try {
    // [batch, m, k, n, transA, transB]: each case has an operand above 16384 floats.
    const cases: [number, number, number, number, boolean, boolean][] = [
      [1, 900, 40, 50, false, false], // A and C: rows
      [1, 900, 40, 70, false, true], // x Wᵀ: rows; tiled (M, N >= 64)
      [1, 40, 900, 50, true, false], // Aᵀ dC over 900 rows: K slices
      [1, 70, 900, 96, true, false], // the same, tiled
      [3, 100, 60, 70, true, false], // batched, transposed A: groups of batches
      [2, 128, 150, 80, false, false], // batched, one batch above the limit: per batch, then rows
      // Contiguous dimensions multiples of 4: the tiled kernels' vec4 loads on every part.
      [1, 72, 900, 96, true, false], // K slices
      [3, 100, 60, 72, true, false], // groups of batches
    ];
    const vec4Parts = cases.filter(([, m, k, n, tA, tB]) =>
      storageEntry("matmul_tiled128", { m, n, k }, { transA: tA, transB: tB }).endsWith("vec4")
    );
    if (vec4Parts.length < 3) throw new Error("too few cases take the vec4 loads");
    for (const [batch, m, k, n, transA, transB] of cases) {
      const a = randn(batch * m * k, m + 1), b = randn(batch * k * n, n + 2), bias = randn(n, 3);
      for (const path of ["storage", "tiled", "tiled128"] as const) {
        const A = g.upload(a, transA ? [batch, k, m] : [batch, m, k]);
        const B = g.upload(b, transB ? [batch, n, k] : [batch, k, n]);
        const Bias = g.upload(bias);
        const before = g.stats.dispatches;
        const C = matmul(A, B, { transA, transB, bias: Bias, path });
        if (g.stats.dispatches - before < 2) throw new Error("the operands were not split");
        assertClose(await C.read(), matmulRef(a, b, { batch, m, n, k, transA, transB, bias }), {
          atol: 1e-4,
          rtol: 1e-4,
          label: `${path} ${batch}x${m}x${k}x${n} transA=${transA} transB=${transB}`,
        });
        for (const t of [A, B, Bias, C]) t.dispose();
      }
    }
    // Accumulating into an existing C adds to it once, not once per K slice.
    const [m, k, n] = [40, 900, 50];
    const a = randn(k * m, 5), b = randn(k * n, 6), c0 = randn(m * n, 7);
    const C = g.upload(c0, [m, n]);
    matmul(g.upload(a, [k, m]), g.upload(b, [k, n]), { transA: true, out: C, accumulate: true });
    const ref = matmulRef(a, b, { batch: 1, m, n, k, transA: true });
    assertClose(await C.read(), ref.map((v, i) => v + c0[i]), { atol: 1e-4, label: "accumulate" });
  } finally {
    g.destroy();
  }
});
