// The adaLN-Zero cross-attention block: identity at initialisation, gradients of the whole block
// (x, context, conditioning, parameters) against finite differences, and padding invariance.
import { ParameterStore } from "../../src/autograd/parameters.ts";
import { Tape } from "../../src/autograd/tape.ts";
import type { Tensor } from "../../src/gpu/tensor.ts";
import { AdaLNCrossBlock } from "../../src/nn/adaln.ts";
import { InitRng } from "../../src/nn/init.ts";
import { assertClose, randn, rng, testGpu } from "../_helpers/mod.ts";

const gpu = await testGpu();
const [B, N, Nc, D, Dc, Dt] = [2, 5, 3, 8, 12, 6];

async function block(randomise: boolean) {
  const store = new ParameterStore(gpu);
  const blk = new AdaLNCrossBlock({ store, rng: new InitRng(4) }, "blk", D, 2, {
    contextDim: Dc,
    condDim: Dt,
  });
  store.finalize();
  if (randomise) {
    const vals = await store.read(), r = rng(11);
    for (const v of vals.values()) for (let i = 0; i < v.length; i++) v[i] = 0.8 * (r() - 0.5);
    store.write(vals);
  }
  return { store, blk };
}

const valid = new Uint32Array([1, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
const cValid = new Uint32Array([1, 1, 0, 1, 1, 1]);

function run(
  blk: AdaLNCrossBlock,
  x: Float32Array,
  c: Float32Array,
  t: Float32Array,
  tape = new Tape(gpu),
) {
  const X = tape.watch(gpu.upload(x, [B, N, D])),
    C = tape.watch(gpu.upload(c, [B, Nc, Dc])),
    T = tape.watch(gpu.upload(t, [B, Dt]));
  const out = blk.forward(tape, X, gpu.upload(valid, [B, N]), C, gpu.upload(cValid, [B, Nc]), T);
  return { tape, X, C, T, out };
}

const x = randn(B * N * D, 1), c = randn(B * Nc * Dc, 2), t = randn(B * Dt, 3);

Deno.test("adaLN block is the identity at initialisation", async () => {
  const { blk } = await block(false);
  const r = run(blk, x, c, t);
  assertClose(await r.out.read(), x, { atol: 1e-6 });
  r.tape.dispose();
});

Deno.test("adaLN block gradients match finite differences (x, context, conditioning)", async () => {
  const { blk } = await block(true);
  const w = randn(B * N * D, 4);
  for (let i = 0; i < B * N; i++) if (!valid[i]) w.fill(0, i * D, (i + 1) * D); // padded rows unused
  const loss = async (xx: Float32Array, cc: Float32Array, tt: Float32Array) => {
    const r = run(blk, xx, cc, tt);
    const o = await r.out.read();
    r.tape.dispose();
    let s = 0;
    for (let i = 0; i < o.length; i++) s += o[i] * w[i];
    return s;
  };
  const r = run(blk, x, c, t);
  r.tape.backward(r.out, gpu.upload(w, [B, N, D]));
  const grads: [Float32Array, Tensor][] = [[x, r.X], [c, r.C], [t, r.T]];
  const base = [x, c, t];
  for (let k = 0; k < 3; k++) {
    const got = await r.tape.grad(grads[k][1])!.read();
    const arr = grads[k][0], h = 1e-2;
    let nonzero = 0;
    for (let j = 0; j < arr.length; j += Math.max(1, Math.floor(arr.length / 9))) {
      const plus = Float32Array.from(arr), minus = Float32Array.from(arr);
      plus[j] += h;
      minus[j] -= h;
      const args = (v: Float32Array) =>
        base.map((b, i) => (i === k ? v : b)) as [Float32Array, Float32Array, Float32Array];
      const fd = ((await loss(...args(plus))) - (await loss(...args(minus)))) / (2 * h);
      assertClose([got[j]], [fd], { atol: 5e-3, rtol: 3e-2 });
      if (Math.abs(fd) > 1e-3) nonzero++;
    }
    if (!nonzero) throw new Error(`input ${k}: every checked gradient is zero`);
  }
  r.tape.dispose();
});

Deno.test("adaLN block: padded particles and padded context entries do not change valid outputs", async () => {
  const { blk } = await block(true);
  const a = run(blk, x, c, t), ao = await a.out.read();
  a.tape.dispose();
  const x2 = Float32Array.from(x), c2 = Float32Array.from(c);
  x2.fill(9, 3 * D, 5 * D); // jet 0, slots 3 and 4 (invalid)
  c2.fill(-7, 2 * Dc, 3 * Dc); // jet 0, context slot 2 (invalid)
  const b = run(blk, x2, c2, t), bo = await b.out.read();
  b.tape.dispose();
  const keep = (o: ArrayLike<number>) => Array.from(o).filter((_, i) => valid[Math.floor(i / D)]);
  assertClose(keep(bo), keep(ao), { atol: 1e-5 });
});
