/**
 * Evaluation of a trained head on a test stream, task-agnostic: each batch goes through the
 * head's forward pass, its logits and the batch go to the task's collector, and the collector
 * gives the metrics, the plots and the predictions written to `predictions.h5`.
 *
 * @module
 */
import { Tape } from "../autograd/tape.ts";
import { ArrayFileWriter } from "../data/hdf5_arrays.ts";
import type { JetLoader } from "../data/loader.ts";
import type { Gpu } from "../gpu/gpu.ts";
import type { DownstreamTask, Metrics, PredictionArrays, PreparedData } from "./downstream/task.ts";
import type { HeadForward } from "./finetune.ts";

/**
 * Runs the test stream through the head; writes `out/predictions.h5` and `out/plots/*.svg`.
 *
 * @param gpu device
 * @param task the downstream task
 * @param forward the head's forward pass
 * @param loader the test stream (closed here)
 * @param o the head's outputs, the task's prepared data, and the output folder
 * @returns the task's metrics
 */
export async function evaluateTest(
  gpu: Gpu,
  task: DownstreamTask,
  forward: HeadForward,
  loader: JetLoader,
  o: { outputs: number; data: PreparedData; out: string },
): Promise<Metrics> {
  const collector = task.collector(o.outputs, o.data, o.data.test[0]);
  for (let b = loader.next(); b; b = loader.next()) {
    const tape = new Tape(gpu);
    const r = forward(tape, b, 0, false);
    collector.add(b, await r.logits.read() as Float32Array, r.extra);
    tape.dispose();
    gpu.submit();
  }
  loader.close();
  writePredictions(`${o.out}/predictions.h5`, collector.predictions());
  const metrics = collector.metrics();
  await collector.plots(`${o.out}/plots`, metrics);
  return metrics;
}

/** Writes a task's prediction arrays (one row per test jet) to HDF5. */
function writePredictions(path: string, p: PredictionArrays): void {
  const first = p.datasets[0];
  const per = first.rowShape.reduce((a, b) => a * b, 1);
  const rows = first.data.length / Math.max(per, 1);
  const w = ArrayFileWriter.create(
    path,
    rows,
    p.datasets.map((d) => ({ name: d.name, rowShape: d.rowShape, dtype: d.dtype })),
  );
  try {
    for (const d of p.datasets) w.write(d.name, 0, d.data);
    for (const [k, v] of Object.entries(p.attributes ?? {})) w.attribute(k, v);
    w.close();
  } catch (e) {
    w.abort();
    throw e;
  }
}
