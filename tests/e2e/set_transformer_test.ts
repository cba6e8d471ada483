// End to end: a 2-layer set transformer (dim 32) trained with AdamW on a toy set task that
// needs attention: every particle must output the masked mean of its jet's features.
import { ParameterStore } from "../../src/autograd/parameters.ts";
import * as ops from "../../src/autograd/ops.ts";
import { Tape } from "../../src/autograd/tape.ts";
import type { Gpu } from "../../src/gpu/gpu.ts";
import { InitRng } from "../../src/nn/init.ts";
import { LayerNorm, Linear, TransformerBlock } from "../../src/nn/layers.ts";
import { AdamW } from "../../src/optim/adamw.ts";
import { warmupCosine } from "../../src/optim/schedule.ts";
import { rng, testGpu } from "../_helpers/mod.ts";

const gpu = await testGpu();
const [B, N, F, D, STEPS] = [16, 10, 3, 32, 300];

function batch(step: number) {
  const r = rng(1000 + step);
  const x = new Float32Array(B * N * F),
    y = new Float32Array(B * N * F),
    valid = new Uint32Array(B * N);
  for (let b = 0; b < B; b++) {
    const n = 1 + Math.floor(r() * N); // 1..N real particles (single-particle jets included)
    const mean = new Float64Array(F);
    for (let j = 0; j < n; j++) {
      valid[b * N + j] = 1;
      for (let f = 0; f < F; f++) mean[f] += (x[(b * N + j) * F + f] = 2 * r() - 1) / n;
    }
    for (let j = 0; j < n; j++) for (let f = 0; f < F; f++) y[(b * N + j) * F + f] = mean[f];
  }
  return { x, y, valid };
}

async function train(g: Gpu, seed: number): Promise<Float32Array> {
  const store = new ParameterStore(g);
  const ctx = { store, rng: new InitRng(seed) };
  const embed = new Linear(ctx, "embed", F, D);
  const blocks = [0, 1].map((i) => new TransformerBlock(ctx, `encoder.layers.${i}`, D, 2));
  const norm = new LayerNorm(ctx, "encoder.norm", D);
  const head = new Linear(ctx, "head", D, F);
  store.finalize();
  const opt = new AdamW(store, {
    lr: 3e-3,
    weightDecay: 1e-4,
    schedule: warmupCosine({ warmup: 20, total: STEPS, floor: 0.05 }),
  });
  const losses = g.zeros([STEPS]);
  for (let step = 0; step < STEPS; step++) {
    const { x, y, valid } = batch(step);
    const X = g.upload(x, [B, N, F]), Y = g.upload(y, [B, N, F]), V = g.upload(valid, [B, N]);
    store.zeroGrad();
    const tape = new Tape(g);
    let h = embed.forward(tape, X);
    for (const blk of blocks) h = blk.forward(tape, h, V);
    const out = head.forward(tape, norm.forward(tape, h));
    const loss = ops.pointwiseLoss(tape, "mse", out.reshape([B * N, F]), Y.reshape([B * N, F]), {
      valid: V,
    });
    tape.backward(loss);
    opt.step();
    g.copy(loss, losses.view([1], step)); // no readback inside the step
    tape.dispose();
    for (const t of [X, Y, V]) t.dispose();
    g.submit();
  }
  return await losses.read() as Float32Array;
}

Deno.test("e2e: a 2-layer set transformer learns the masked set mean, reproducibly", async () => {
  const submitsBefore = gpu.stats.submits;
  const a = await train(gpu, 7);
  const submits = gpu.stats.submits - submitsBefore;
  const head = (a[0] + a[1] + a[2]) / 3;
  const tail = a.slice(-20).reduce((s, v) => s + v, 0) / 20;
  console.log(
    `loss ${head.toFixed(4)} -> ${tail.toFixed(4)} in ${STEPS} steps; ${submits} submits`,
  );
  if (!(tail < 0.1 * head)) throw new Error(`loss did not fall enough: ${head} -> ${tail}`);
  // One submit per training step (+ finalize and the final readback).
  if (submits > STEPS + 3) throw new Error(`${submits} submits for ${STEPS} steps`);
  const b = await train(gpu, 7);
  if (!a.every((v, i) => v === b[i])) throw new Error("same seed gave a different loss curve");
});
