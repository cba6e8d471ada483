/**
 * What data parallelism costs per step: the gradient exchange of `DataParallel` (read the
 * gradient arena back, MPI allreduce, upload) for the small and paper presets' MPM models (ID
 * and regression tasks), on this machine's WebGPU adapter and MPI; and how much of the
 * allreduce hides behind 20 ms of host work (as the training loops record the next step while
 * it runs).
 *
 * ```sh
 * mpiexec -n 2 deno run -A bench/allreduce.ts     # prints a table on rank 0
 * ```
 *
 * @module
 */
import { ParameterStore } from "../src/autograd/parameters.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import { Mpi } from "../src/io/mpi.ts";
import { preset } from "../src/mpm/config.ts";
import { MPMModel } from "../src/mpm/model.ts";
import { DataParallel } from "../src/train/data_parallel.ts";

const mpi = Mpi.init();
const gpu = await requestGpu();
const rows: string[] = [];
const busyMs = 20;
for (const name of ["small", "paper"] as const) {
  const cfg = preset(name);
  const store = new ParameterStore(gpu);
  new MPMModel(store, cfg);
  store.finalize();
  const dp = new DataParallel(mpi, store);
  await dp.averageGradients(); // warm-up
  const reps = name === "paper" ? 5 : 20;
  const before = { ...dp.stats };
  // Host allreduce alone, on the same bytes.
  const host = new Float32Array(store.groups.reduce((s, g) => s + g.arena("grads").size, 0));
  mpi.barrier();
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) mpi.allreduceSum(host);
  const hostMs = (performance.now() - t0) / reps;
  mpi.barrier();
  for (let r = 0; r < reps; r++) await dp.averageGradients();
  const ms = (dp.stats.ms - before.ms) / reps, bytes = (dp.stats.bytes - before.bytes) / reps;
  // The overlapped exchange: the allreduce runs on MPI's thread while this thread does
  // `busyMs` of host work (standing in for recording the next step), then waits for the rest.
  mpi.barrier();
  const mid = { ...dp.stats };
  for (let r = 0; r < reps; r++) {
    const pending = await dp.beginAverage();
    const b0 = performance.now();
    while (performance.now() - b0 < busyMs) { /* host work */ }
    await pending.finish();
  }
  const waited = (dp.stats.reduceWaitMs - mid.reduceWaitMs) / reps;
  const reduced = (dp.stats.reduceMs - mid.reduceMs) / reps;
  rows.push(
    `| ${name} | ${store.count.toLocaleString("en")} | ${(bytes / 2 ** 20).toFixed(1)} | ${
      hostMs.toFixed(2)
    } | ${ms.toFixed(2)} | ${reduced.toFixed(2)} / ${waited.toFixed(2)} |`,
  );
}
if (mpi.rank === 0) {
  console.log(
    `${mpi.size} ranks, ${gpu.adapterName}, ${mpi.library}\n\n` +
      "| preset | parameters | MiB per rank per step | allreduce ms | exchange ms (readback + allreduce + upload) |" +
      ` allreduce ms beside ${busyMs} ms of host work: took / waited |\n` +
      "|---|---:|---:|---:|---:|---:|\n" + rows.join("\n"),
  );
}
gpu.destroy();
mpi.finalize();
