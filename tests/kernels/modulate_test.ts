// shaders/modulate.wgsl (adaLN modulation, gated residual, their backward) against the float64
// references, and the backward against finite differences of the references.
import * as ops from "../../src/autograd/ops.ts";
import { Tape } from "../../src/autograd/tape.ts";
import { assertClose, randn, testGpu } from "../_helpers/mod.ts";
import { data, dot, numericalGrad } from "../reference/finite_diff.ts";
import { gatedResidualRef, modulateRef } from "../reference/modulate.ts";

const gpu = await testGpu();
const tol = { atol: 1e-4, rtol: 1e-4 };

for (const [B, N, D] of [[1, 1, 1], [3, 5, 7], [2, 130, 5]] as const) {
  Deno.test(`modulate and gatedResidual B=${B} N=${N} D=${D}: forward and gradients`, async () => {
    const x = data(B * N * D, 1), s = data(B * D, 2), t = data(B * D, 3), res = data(B * N * D, 4);
    const w = data(B * N * D, 5); // cotangent
    const up = (a: Float64Array, shape: number[]) => gpu.upload(new Float32Array(a), shape);

    const tape = new Tape(gpu);
    const X = tape.watch(up(x, [B, N, D])),
      S = tape.watch(up(s, [B, D])),
      T = tape.watch(up(t, [B, D])),
      R = tape.watch(up(res, [B, N, D]));
    const y1 = ops.modulate(tape, X, S, T);
    assertClose(await y1.read(), modulateRef(x, s, t, B, N, D), tol);
    const y2 = ops.gatedResidual(tape, R, y1, S); // chain: res + s * modulate(x)
    const ref2 = (xx: Float64Array, ss: Float64Array, tt: Float64Array, rr: Float64Array) =>
      dot(gatedResidualRef(rr, modulateRef(xx, ss, tt, B, N, D), ss, B, N, D), w);
    assertClose([dot(await y2.read(), w)], [ref2(x, s, t, res)], { atol: 1e-3, rtol: 1e-4 });
    tape.backward(y2, up(w, [B, N, D]));
    assertClose(await tape.grad(X)!.read(), numericalGrad((v) => ref2(v, s, t, res), x), tol);
    assertClose(await tape.grad(S)!.read(), numericalGrad((v) => ref2(x, v, t, res), s), tol);
    assertClose(await tape.grad(T)!.read(), numericalGrad((v) => ref2(x, s, v, res), t), tol);
    assertClose(await tape.grad(R)!.read(), numericalGrad((v) => ref2(x, s, t, v), res), tol);
    tape.dispose();
  });
}

Deno.test("modulate rejects per-set vectors of the wrong shape", () => {
  const x = gpu.upload(randn(24, 1), [2, 3, 4]);
  let threw = false;
  try {
    ops.modulate(new Tape(gpu), x, gpu.zeros([3, 4]), gpu.zeros([2, 4]));
  } catch (e) {
    threw = /\(2, 4\)/.test(String(e));
  }
  if (!threw) throw new Error("no clear shape error");
});
