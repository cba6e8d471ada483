// The tape: parameter gradients of a composite graph against finite differences of an
// independent float64 CPU composite; accumulation for reused tensors; frozen groups.
import { ParameterStore } from "../../src/autograd/parameters.ts";
import * as ops from "../../src/autograd/ops.ts";
import { Tape } from "../../src/autograd/tape.ts";
import { assertClose, randn, testGpu } from "../_helpers/mod.ts";
import { attentionRef } from "../reference/attention.ts";
import { geluGradRef, geluRef, layerNormRef, matmulRef, swigluRef } from "../reference/dense.ts";
import { crossEntropyRef } from "../reference/losses.ts";
import { maskedSumRef } from "../reference/movement.ts";
import { numericalGrad } from "../reference/finite_diff.ts";

const gpu = await testGpu();

Deno.test("tape gradients of linear -> layerNorm -> gelu -> linear -> MSE match finite differences", async () => {
  const [R, I, H, O] = [5, 3, 4, 2];
  const x = randn(R * I, 1), y = randn(R * O, 2);
  const init: Record<string, [number[], Float32Array]> = {
    "fc1.weight": [[H, I], randn(H * I, 3)],
    "fc1.bias": [[H], randn(H, 4)],
    "ln.weight": [[H], randn(H, 5, 0.5, 1.5)],
    "ln.bias": [[H], randn(H, 6)],
    "fc2.weight": [[O, H], randn(O * H, 7)],
    "fc2.bias": [[O], randn(O, 8)],
  };
  const store = new ParameterStore(gpu);
  for (const [name, [shape, v]] of Object.entries(init)) store.create(name, shape, v);
  store.finalize();
  store.zeroGrad();
  const valid = new Uint32Array([1, 1, 0, 1, 1]);
  const tape = new Tape(gpu);
  const p = (n: string) => tape.param(store.get(n));
  let h = ops.linear(tape, gpu.upload(x, [R, I]), p("fc1.weight"), p("fc1.bias"));
  h = ops.gelu(tape, ops.layerNorm(tape, h, p("ln.weight"), p("ln.bias")));
  const out = ops.linear(tape, h, p("fc2.weight"), p("fc2.bias"));
  const loss = ops.pointwiseLoss(tape, "mse", out, gpu.upload(y, [R, O]), {
    valid: gpu.upload(valid),
  });
  tape.backward(loss);
  const grads = await store.read("grads");
  tape.dispose();

  const names = Object.keys(init);
  const sizes = names.map((n) => init[n][1].length);
  const flat = Float64Array.from(names.flatMap((n) => Array.from(init[n][1])));
  const cpuLoss = (theta: Float64Array) => {
    let o = 0;
    const part = sizes.map((s) => theta.slice(o, o += s));
    const [w1, b1, g, bt, w2, b2] = part;
    const a = matmulRef(x, w1, { batch: 1, m: R, n: H, k: I, transB: true, bias: b1 });
    const ln = layerNormRef(a, g, bt, R, H).y.map(geluRef);
    const z = matmulRef(ln, w2, { batch: 1, m: R, n: O, k: H, transB: true, bias: b2 });
    let s = 0, n = 0;
    for (let r = 0; r < R; r++) {
      if (!valid[r]) continue;
      for (let c = 0; c < O; c++) {
        s += (z[r * O + c] - y[r * O + c]) ** 2;
        n++;
      }
    }
    return s / n;
  };
  const fd = numericalGrad(cpuLoss, flat, 1e-6);
  const got = names.flatMap((n) => Array.from(grads.get(n)!));
  assertClose(got, fd, { atol: 2e-5, rtol: 2e-3 });
});

Deno.test("tape accumulates the gradient of a tensor used twice", async () => {
  const tape = new Tape(gpu);
  const x = tape.watch(gpu.upload(new Float32Array([1, -2, 3]), [1, 3]));
  const y = ops.add(tape, x, x, 2, 3); // 5x
  const loss = ops.pointwiseLoss(tape, "l1", y, gpu.zeros([1, 3]));
  tape.backward(loss);
  assertClose(await tape.grad(x)!.read(), [5 / 3, -5 / 3, 5 / 3]);
  tape.dispose();
});

Deno.test("tape leaves frozen parameter groups without gradients", async () => {
  const store = new ParameterStore(gpu);
  const w = store.create("frozen.weight", [2, 2], new Float32Array([1, 2, 3, 4]), "backbone");
  const v = store.create("head.weight", [1, 2], new Float32Array([1, 1]), "head");
  store.finalize();
  store.group("backbone").frozen = true;
  store.zeroGrad();
  const tape = new Tape(gpu);
  const x = gpu.upload(new Float32Array([1, 1]), [1, 2]);
  const h = ops.linear(tape, ops.linear(tape, x, tape.param(w)), tape.param(v));
  tape.backward(ops.pointwiseLoss(tape, "l1", h, gpu.zeros([1, 1])));
  assertClose(await v.grad.read(), [3, 7]);
  if (tape.requiresGrad(w.value)) throw new Error("frozen parameter must not require grad");
  tape.dispose();
});

Deno.test("tape follows plain x.reshape() views of tracked tensors, in any input position", async () => {
  const tape = new Tape(gpu);
  const a = tape.watch(gpu.upload(new Float32Array([1, 2, 3, 4]), [2, 2]));
  const b = tape.watch(gpu.upload(new Float32Array([1, 1, 1, 1]), [2, 2]));
  const y = ops.add(tape, a, b.reshape([4]).reshape([2, 2]), 1, 2);
  tape.backward(ops.pointwiseLoss(tape, "l1", y.reshape([4, 1]), gpu.zeros([4, 1])));
  assertClose(await tape.grad(b)!.read(), [0.5, 0.5, 0.5, 0.5]);
  assertClose(await tape.grad(a)!.read(), [0.25, 0.25, 0.25, 0.25]);
  tape.dispose();
});

Deno.test("tape gradients through embedding, gather, concat, attention, LayerScale, SwiGLU, masked mean and cross-entropy match finite differences", async () => {
  const [B, N, C, H] = [2, 3, 8, 2]; // C = 8: two heads of 4
  const ids = new Int32Array([0, 2, 1, 2, 0, 0]);
  const valid = new Uint32Array([1, 1, 0, 1, 0, 0]); // jet 1 has a single particle
  const labels = new Int32Array([1, 0]);
  // Gather reverses each jet's particle order (an injective map) and its inverse is itself.
  const perm = new Int32Array([2, 1, 0, 5, 4, 3]);
  const shapes: Record<string, number[]> = {
    table: [3, C / 2],
    feat: [B, N, C / 2],
    wqkv: [3 * C, C],
    gamma: [C],
    w1: [2 * C, C],
    wout: [3, C],
  };
  const init = Object.fromEntries(
    Object.entries(shapes).map(([k, s], i) => [
      k,
      randn(s.reduce((a, b) => a * b), 30 + i, -0.8, 0.8),
    ]),
  );
  const store = new ParameterStore(gpu);
  for (const [k, s] of Object.entries(shapes)) store.create(k, s, init[k]);
  store.finalize();
  store.zeroGrad();
  const tape = new Tape(gpu);
  const p = (k: string) => tape.param(store.get(k));
  const V = gpu.upload(valid, [B, N]);
  const e = ops.embedding(tape, p("table"), gpu.upload(ids, [B, N]));
  let x = ops.concat(tape, [
    e,
    ops.gatherRows(tape, p("feat"), gpu.upload(perm), gpu.upload(perm), [B, N, C / 2]),
  ]);
  const a = ops.selfAttention(tape, ops.linear(tape, x, p("wqkv")), V, H);
  x = ops.residualScale(tape, x, a, p("gamma"));
  const sw = ops.swiglu(tape, ops.linear(tape, x, p("w1")));
  // w1 is used twice (the second time through a reshape view), sw twice through concat.
  x = ops.add(
    tape,
    x,
    ops.linear(tape, ops.concat(tape, [sw, sw]), p("w1").reshape([C, 2 * C])),
    1,
    0.5,
  );
  const logits = ops.linear(tape, ops.maskedMean(tape, x, V), p("wout"));
  const loss = ops.crossEntropy(tape, logits, gpu.upload(labels), { labelSmoothing: 0.1 });
  tape.backward(loss);
  const grads = await store.read("grads");
  const lossGpu = (await loss.read())[0];
  tape.dispose();

  const names = Object.keys(shapes);
  const sizes = names.map((k) => init[k].length);
  const cpu = (theta: Float64Array) => {
    let o = 0;
    const P = Object.fromEntries(names.map((k, i) => [k, theta.slice(o, o += sizes[i])]));
    const half = C / 2;
    const xs = new Float64Array(B * N * C);
    for (let r = 0; r < B * N; r++) {
      for (let c = 0; c < half; c++) {
        xs[r * C + c] = P.table[ids[r] * half + c];
        xs[r * C + half + c] = P.feat[perm[r] * half + c];
      }
    }
    const qkv = matmulRef(xs, P.wqkv, { batch: 1, m: B * N, n: 3 * C, k: C, transB: true });
    const col = (off: number) =>
      Float64Array.from(
        { length: B * N * C },
        (_, i) => qkv[Math.floor(i / C) * 3 * C + off + (i % C)],
      );
    const att = attentionRef(col(0), col(C), col(2 * C), valid, {
      batch: B,
      nq: N,
      nk: N,
      heads: H,
      headDim: C / H,
    });
    const h1 = xs.map((v, i) => v + att[i] * P.gamma[i % C]);
    const u = matmulRef(h1, P.w1, { batch: 1, m: B * N, n: 2 * C, k: C, transB: true });
    const sw = swigluRef(u, B * N, C);
    const ss = Float64Array.from(
      { length: B * N * 2 * C },
      (_, i) => sw[Math.floor(i / (2 * C)) * C + (i % C)],
    );
    const f = matmulRef(ss, P.w1, { batch: 1, m: B * N, n: C, k: 2 * C, transB: true });
    const h2 = h1.map((v, i) => v + 0.5 * f[i]);
    const pooled = maskedSumRef(h2, valid, B, N, C, true);
    const lg = matmulRef(pooled, P.wout, { batch: 1, m: B, n: 3, k: C, transB: true });
    return crossEntropyRef(lg, labels, B, 3, { eps: 0.1 }).loss;
  };
  const flat = Float64Array.from(names.flatMap((k) => Array.from(init[k])));
  assertClose([lossGpu], [cpu(flat)], { atol: 1e-5, rtol: 1e-5 });
  const fd = numericalGrad(cpu, flat, 1e-6);
  assertClose(names.flatMap((k) => Array.from(grads.get(k)!)), fd, { atol: 2e-5, rtol: 2e-3 });
});

Deno.test("matmulOp (all transposes) and prependRows gradients match finite differences", async () => {
  const [m, k, n] = [3, 4, 2];
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const a = randn(m * k, 40), b = randn(k * n, 41), w = randn(m * n, 42);
      const tape = new Tape(gpu);
      const A = tape.watch(gpu.upload(a, transA ? [k, m] : [m, k])),
        Bt = tape.watch(gpu.upload(b, transB ? [n, k] : [k, n]));
      const y = ops.matmulOp(tape, A, Bt, { transA, transB });
      // loss = mean(y * w) via MSE against 0 of y*sqrt... use a linear functional: L1 of y - 0 is not smooth; use MSE(y, w).
      tape.backward(ops.pointwiseLoss(tape, "mse", y, gpu.upload(w, [m, n])));
      const f = (aa: Float64Array, bb: Float64Array) => {
        const yy = matmulRef(aa, bb, { batch: 1, m, n, k, transA, transB });
        return yy.reduce((s, v, i) => s + (v - w[i]) ** 2, 0) / (m * n);
      };
      assertClose(
        await tape.grad(A)!.read(),
        numericalGrad((x) => f(x, Float64Array.from(b)), Float64Array.from(a)),
        { atol: 1e-4, rtol: 1e-3, label: `dA ${transA} ${transB}` },
      );
      assertClose(
        await tape.grad(Bt)!.read(),
        numericalGrad((x) => f(Float64Array.from(a), x), Float64Array.from(b)),
        { atol: 1e-4, rtol: 1e-3, label: `dB ${transA} ${transB}` },
      );
      tape.dispose();
    }
  }
  const [R, B, N, C] = [2, 3, 4, 5];
  const reg = randn(R * C, 43), x = randn(B * N * C, 44), t = randn(B * (R + N) * C, 45);
  const tape = new Tape(gpu);
  const Reg = tape.watch(gpu.upload(reg, [R, C])), X = tape.watch(gpu.upload(x, [B, N, C]));
  const y = ops.prependRows(tape, Reg, X);
  tape.backward(ops.pointwiseLoss(tape, "mse", y, gpu.upload(t, [B, R + N, C])));
  const full = (rr: Float64Array, xx: Float64Array) => {
    let s = 0;
    for (let b = 0; b < B; b++) {
      for (let r = 0; r < R + N; r++) {
        for (let c = 0; c < C; c++) {
          const v = r < R ? rr[r * C + c] : xx[(b * N + r - R) * C + c];
          s += (v - t[(b * (R + N) + r) * C + c]) ** 2;
        }
      }
    }
    return s / (B * (R + N) * C);
  };
  assertClose(
    await y.read(),
    Array.from({ length: B * (R + N) * C }, (_, i) => {
      const c = i % C, r = Math.floor(i / C) % (R + N), b = Math.floor(i / C / (R + N));
      return r < R ? reg[r * C + c] : x[(b * N + r - R) * C + c];
    }),
    { atol: 0 },
  );
  assertClose(
    await tape.grad(Reg)!.read(),
    numericalGrad((v) => full(v, Float64Array.from(x)), Float64Array.from(reg)),
    { atol: 1e-5, rtol: 1e-3 },
  );
  assertClose(
    await tape.grad(X)!.read(),
    numericalGrad((v) => full(Float64Array.from(reg), v), Float64Array.from(x)),
    { atol: 1e-5, rtol: 1e-3 },
  );
  tape.dispose();
});

Deno.test("dropout is reproducible for a key, zeroes about p, and its gradient uses the same mask", async () => {
  const n = 20000, tape = new Tape(gpu);
  const x = tape.watch(gpu.upload(new Float32Array(n).fill(1), [n, 1]));
  const key = { seed: 3, stream: 9, offset: 0 };
  const y = ops.dropout(tape, x, 0.25, key);
  tape.backward(ops.pointwiseLoss(tape, "l1", y, gpu.zeros([n, 1])));
  const [yv, gv] = [await y.read(), await tape.grad(x)!.read()];
  const zeros = yv.filter((v) => v === 0).length / n;
  if (Math.abs(zeros - 0.25) > 0.02) throw new Error(`dropped fraction ${zeros}`);
  yv.forEach((v, i) => {
    if ((v === 0) !== (gv[i] === 0)) throw new Error("gradient mask differs from the forward mask");
  });
  const again = await ops.dropout(tape, x, 0.25, key).read();
  if (!again.every((v, i) => v === yv[i])) throw new Error("same key, different mask");
  tape.dispose();
});

Deno.test("the backward pass frees each activation's gradient once its op has run: a deep chain's pool stays near its forward size, and gradients are unchanged", async () => {
  // 24 GELUs on a 1 MiB activation: the forward keeps 24 activations; a backward that kept every
  // gradient until tape.dispose would double that.
  const L = 24, n = 256 * 1024, MiB = 2 ** 20;
  const xv = randn(n, 7);
  const x = gpu.upload(xv, [256, 1024]);
  await gpu.sync();
  gpu.resetPeakBytes();
  const base = gpu.peakAllocatedBytes;
  const tape = new Tape(gpu);
  tape.watch(x);
  let h = x;
  for (let i = 0; i < L; i++) h = ops.gelu(tape, h);
  const fwd = gpu.peakAllocatedBytes - base;
  tape.backward(ops.meanAll(tape, h));
  const dx = await tape.grad(x)!.read();
  const total = gpu.peakAllocatedBytes - base;
  tape.dispose();
  gpu.submit();
  if (total > fwd + 4 * MiB) {
    throw new Error(
      `backward grew the pool from ${fwd / MiB} MiB (forward) to ${total / MiB} MiB`,
    );
  }
  // d/dx mean(gelu^L(x)) by the chain rule in float64.
  const want = Float64Array.from(xv, (v) => {
    let y = v, d = 1;
    for (let i = 0; i < L; i++) {
      d *= geluGradRef(y);
      y = geluRef(y);
    }
    return d / n;
  });
  assertClose(dx, want, { atol: 1e-9, rtol: 1e-3, label: "dx" });
  x.dispose();
});

Deno.test("tape.dispose returns every buffer of a forward + backward pass to the pool (reshaped results included)", async () => {
  // Ops whose results are reshaped kernel outputs (linear, gatherRows, concat/split, meanAll,
  // modulate, gatedResidual, prependRows) must hand the buffer itself to the tape: a reshape view
  // never releases its base, and a long sampling loop then held every step's memory.
  const store = new ParameterStore(gpu);
  const w = store.create("w", [6, 5], randn(30, 1)), b = store.create("b", [6], randn(6, 2));
  const reg = store.create("reg", [2, 6], randn(12, 3));
  store.finalize();
  const x = gpu.upload(randn(3 * 4 * 5, 4), [3, 4, 5]);
  const cond = gpu.upload(randn(3 * 6, 5), [3, 6]);
  const idx = gpu.upload(new Int32Array([0, 2, 5, 7, -1]));
  const inv = gpu.upload(new Int32Array(18).fill(-1).map((_, i) => [0, 2, 5, 7].indexOf(i)));
  const pass = () => {
    store.zeroGrad();
    const tape = new Tape(gpu);
    tape.watch(x);
    const h = ops.linear(tape, x, tape.param(w), tape.param(b)); // (3, 4, 6)
    const m = ops.modulate(tape, h, cond, cond);
    const r = ops.gatedResidual(tape, h, m, cond);
    const [p, q] = ops.split(tape, r, [2, 4]);
    const c = ops.concat(tape, [q, p]);
    const withReg = ops.prependRows(tape, tape.param(reg), c); // (3, 6, 6)
    const g = ops.gatherRows(tape, withReg.reshape([18, 6]), idx, inv, [5, 6]);
    tape.backward(ops.meanAll(tape, g));
    tape.dispose();
    gpu.submit();
  };
  pass();
  await gpu.sync();
  const before = gpu.liveBytes;
  for (let i = 0; i < 5; i++) pass();
  await gpu.sync();
  if (gpu.liveBytes !== before) {
    throw new Error(`live bytes grew from ${before} to ${gpu.liveBytes} over 5 passes`);
  }
});
