// shaders/layernorm.wgsl against the float64 reference.
import { layerNormBackward, layerNormForward } from "../../src/kernels/layernorm.ts";
import { assertClose, randn, testGpu } from "../_helpers/mod.ts";
import { layerNormBackwardRef, layerNormRef } from "../reference/dense.ts";

const gpu = await testGpu();

for (const variant of ["workgroup", "row"] as const) {
  for (const [rows, cols] of [[1, 1], [5, 7], [9, 130], [3, 512]]) {
    Deno.test(`layernorm (${variant} variant) forward/backward rows=${rows} cols=${cols}`, async () => {
      const x = randn(rows * cols, 1, -3, 5),
        g = randn(cols, 2),
        b = randn(cols, 3),
        dy = randn(rows * cols, 4);
      const X = gpu.upload(x, [rows, cols]), G = gpu.upload(g), B = gpu.upload(b);
      const saved = layerNormForward(X, G, B, 1e-5, { variant });
      const ref = layerNormRef(x, g, b, rows, cols);
      assertClose(await saved.y.read(), ref.y, { atol: 2e-5, rtol: 1e-4 });
      assertClose(await saved.rstd.read(), ref.rstd, { atol: 1e-4, rtol: 1e-4 });
      const grads = layerNormBackward(X, G, saved, gpu.upload(dy, [rows, cols]), { variant });
      const rg = layerNormBackwardRef(x, g, dy, rows, cols);
      const tol = { atol: cols === 1 ? 5e-2 : 2e-4, rtol: 1e-3 };
      assertClose(await grads.dx.read(), rg.dx, tol);
      assertClose(await grads.dgamma.read(), rg.dgamma, { atol: 1e-4, rtol: 1e-4 });
      assertClose(await grads.dbeta.read(), rg.dbeta, { atol: 1e-4, rtol: 1e-4 });
    });
  }
}
