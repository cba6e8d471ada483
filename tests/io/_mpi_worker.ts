// Run under mpiexec by mpi_test.ts. `collectives OUT`: rank, size, allreduce, broadcast, barrier.
// `train B STEPS OUT`: a small MLP trained data-parallel on a fixed global batch of B rows, each
// rank computing its share; rank 0 writes the loss curve and the final weights.
import { ParameterStore } from "../../src/autograd/parameters.ts";
import { Tape } from "../../src/autograd/tape.ts";
import * as ops from "../../src/autograd/ops.ts";
import { requestGpu } from "../../src/gpu/gpu.ts";
import { Mpi } from "../../src/io/mpi.ts";
import { AdamW } from "../../src/optim/adamw.ts";
import { DataParallel } from "../../src/train/data_parallel.ts";

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
  const losses: number[] = [];
  let hostWork = 0; // calls of averageGradients' whileWaiting (once per step, on any rank count)
  for (let step = 0; step < steps; step++) {
    store.zeroGrad();
    const tape = new Tape(gpu);
    const h = ops.silu(tape, ops.linear(tape, x, store.get("w1").value, store.get("b1").value));
    const p = ops.linear(tape, h, store.get("w2").value, store.get("b2").value);
    const loss = ops.pointwiseLoss(tape, "mse", p, y);
    tape.backward(loss);
    const local = Float64Array.from(await loss.read());
    await dp.averageGradients(() => hostWork++);
    opt.step();
    tape.dispose();
    gpu.submit();
    mpi.allreduceSum(local);
    losses.push(local[0] / mpi.size);
  }
  const final = await store.read();
  if (mpi.rank === 0) {
    await Deno.writeTextFile(
      out,
      JSON.stringify({
        losses,
        weights: Object.fromEntries([...final].map(([k, v]) => [k, [...v]])),
        stats: dp.stats,
        hostWork,
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
