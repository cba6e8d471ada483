// Run under mpiexec by mpi_test.ts. `collectives OUT`: rank, size, allreduce, broadcast, barrier.
// `train B STEPS OUT`: a small MLP trained data-parallel on a fixed global batch of B rows, each
// rank computing its share; rank 0 writes the loss curve and the final weights. `train B STEPS
// OUT deferred`: the same with each allreduce overlapping the recording of the next step;
// `... weighted`: with the ranks' gradients weighted by their rows.
import { ParameterStore } from "../../src/autograd/parameters.ts";
import { Tape } from "../../src/autograd/tape.ts";
import * as ops from "../../src/autograd/ops.ts";
import { requestGpu } from "../../src/gpu/gpu.ts";
import { Mpi } from "../../src/io/mpi.ts";
import { AdamW } from "../../src/optim/adamw.ts";
import { DataParallel, type PendingExchange } from "../../src/train/data_parallel.ts";

const mpi = Mpi.init();
const [mode, ...args] = Deno.args;

function values(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 4294967296 - 0.5) * 2 * scale;
  });
}

if (mode === "collectives") {
  const f = Float32Array.from([mpi.rank + 1, 10 * (mpi.rank + 1)]);
  mpi.allreduceSum(f);
  const d = Float64Array.from([0.1 * (mpi.rank + 1)]);
  mpi.allreduceSum(d);
  const b = mpi.rank === 0 ? Int32Array.from([7, 8, 9]) : new Int32Array(3);
  mpi.broadcast(b, 0);
  mpi.barrier();
  await Deno.writeTextFile(
    `${args[0]}.${mpi.rank}.json`,
    JSON.stringify({
      rank: mpi.rank,
      size: mpi.size,
      launched: mpi.launched,
      f: [...f],
      d: [...d],
      b: [...b],
    }),
  );
} else {
  const B = Number(args[0]), steps = Number(args[1]), out = args[2];
  const gpu = await requestGpu();
  const store = new ParameterStore(gpu);
  const IN = 8, H = 16, O = 4;
  // Each rank initialises differently: the broadcast must make rank 0's weights everyone's.
  const seed = 1 + 1000 * mpi.rank;
  store.create("w1", [H, IN], values(H * IN, seed, 0.5));
  store.create("b1", [H], values(H, seed + 1, 0.1));
  store.create("w2", [O, H], values(O * H, seed + 2, 0.5));
  store.create("b2", [O], values(O, seed + 3, 0.1));
  store.finalize();
  const dp = new DataParallel(mpi, store);
  await dp.broadcastParameters();
  const opt = new AdamW(store, { lr: 1e-2, weightDecay: 1e-2, maxNorm: 1 });
  const X = values(B * IN, 77), Y = values(B * O, 78);
  const [s, e] = dp.share(B);
  const x = gpu.upload(X.slice(s * IN, e * IN), [e - s, IN]);
  const y = gpu.upload(Y.slice(s * O, e * O), [e - s, O]);
  // `deferred`: the allreduce stays in flight while the optimiser step and the next step are
  // recorded (DataParallel.beginAverage), as the training loops do; a submit meanwhile must be
  // refused.
  const deferred = args[3] === "deferred";
  // `weighted`: each rank's loss scaled by its rows, averaged with their total as the weight
  // (ExchangeWeighting, as the loops do for means over particles): the plain mean's result.
  const weighted = args[3] === "weighted", rows = e - s;
  const lossBuf = gpu.zeros([steps]);
  let hostWork = 0; // calls of the exchange's whileWaiting (once per step, on any rank count)
  let refused = 0;
  let pending: PendingExchange | undefined, grads0: number[] = [];
  for (let step = 0; step < steps; step++) {
    store.zeroGrad();
    const tape = new Tape(gpu);
    // tape.param: the parameters' gradients accumulate into the store's arena (what is exchanged).
    const w = (name: string) => tape.param(store.get(name));
    const h = ops.silu(tape, ops.linear(tape, x, w("w1"), w("b1")));
    const p = ops.linear(tape, h, w("w2"), w("b2"));
    const loss = ops.pointwiseLoss(tape, "mse", p, y);
    tape.backward(weighted ? ops.weightedSum(tape, [[loss, rows]]) : loss);
    gpu.copy(loss, lossBuf.view([1], step));
    await pending?.finish();
    pending = await dp.beginAverage(() => hostWork++, weighted ? { weight: rows } : undefined);
    if (deferred && mpi.size > 1) {
      opt.step();
      tape.dispose();
      try {
        gpu.submit();
      } catch (e) {
        if ((e as Error).message.includes("exchange is in flight")) refused++;
      }
    } else {
      await pending.finish();
      // The first step's averaged gradients, before the optimiser clips them.
      if (step === 0) grads0 = [...await store.groups[0].arena("grads").read()];
      opt.step();
      tape.dispose();
      gpu.submit();
    }
  }
  await pending?.finish();
  const local = Float64Array.from(await lossBuf.read());
  mpi.allreduceSum(local);
  const losses = [...local].map((v) => v / mpi.size);
  const final = await store.read();
  if (mpi.rank === 0) {
    await Deno.writeTextFile(
      out,
      JSON.stringify({
        losses,
        weights: Object.fromEntries([...final].map(([k, v]) => [k, [...v]])),
        stats: dp.stats,
        hostWork,
        refused,
        grads0,
      }),
    );
  }
  // Every rank ends with the same weights.
  const w = final.get("w1")!.slice(), sum = Float32Array.from(w);
  mpi.allreduceSum(sum);
  for (let i = 0; i < w.length; i++) {
    if (Math.abs(sum[i] - mpi.size * w[i]) > 1e-5) {
      throw new Error(`rank ${mpi.rank}: weights diverged from the other ranks`);
    }
  }
  gpu.destroy();
}
mpi.finalize();
