/**
 * Evaluation of a trained head on a test stream, task-agnostic: each batch goes through the
 * head's forward pass, its logits and the batch go to the task's collector, and the collector
 * gives the metrics, the plots and the predictions written to `predictions.h5`.
 *
 * @module
 */
import { Tape } from "../autograd/tape.ts";
import { ArrayFileWriter } from "../data/hdf5_arrays.ts";
import { classNamesOf } from "../data/labels.ts";
import type { JetBatch, JetLoader } from "../data/loader.ts";
import type { Gpu } from "../gpu/gpu.ts";
import {
  type DownstreamTask,
  type Metrics,
  type PredictionArrays,
  type PreparedData,
  splitPart,
} from "./downstream/task.ts";
import type { HeadForward } from "./head_training.ts";

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
  const common = new CommonPredictions(loader);
  const progress = progressLine(`evaluating ${task.name}`, loader.length);
  let seen = 0;
  // One batch in flight: the next batch is loaded and recorded while the device evaluates this
  // one and copies its logits back; batches reach the collector in order.
  let pending: Promise<void> = Promise.resolve();
  for (let b = loader.next(); b; b = loader.next()) {
    const batch = b, tape = new Tape(gpu);
    const r = forward(tape, batch, 0, false);
    const logits = r.logits.read();
    tape.dispose();
    gpu.submit();
    await pending;
    pending = logits.then((l) => {
      collector.add(batch, l as Float32Array, r.extra);
      common.add(batch);
      progress(seen += batch.size);
    });
  }
  await pending;
  loader.close();
  const p = collector.predictions();
  writePredictions(`${o.out}/predictions.h5`, common.merge(p, o.data));
  const metrics = collector.metrics();
  await collector.plots(`${o.out}/plots`, metrics);
  return metrics;
}

/** A throttled progress line on stderr (a TTY rewrites it; other outputs get a line a minute). */
function progressLine(what: string, total: number): (done: number) => void {
  const start = performance.now(), tty = Deno.stderr.isTerminal();
  let last = 0;
  return (done) => {
    const now = performance.now();
    if (done < total && now - last < (tty ? 500 : 60_000)) return;
    last = now;
    const s = (now - start) / 1000, rate = done / Math.max(s, 1e-9);
    const eta = done < total ? `, ETA ${Math.ceil((total - done) / Math.max(rate, 1e-9))} s` : "";
    const line = `${what}: ${done}/${total} jets, ${rate.toFixed(0)} jets/s${eta}`;
    Deno.stderr.writeSync(
      new TextEncoder().encode(tty ? `\r${line}${done >= total ? "\n" : ""}` : `${line}\n`),
    );
  };
}

/**
 * What every task's `predictions.h5` holds beside its own outputs, so a result can be
 * recomputed without rebuilding the split: each test jet's file and row, its particle mask, its
 * label, and as attributes the class names, the files and how the test set was chosen.
 */
class CommonPredictions {
  #fileIndex: number[] = [];
  #row: number[] = [];
  #labels: number[] = [];
  #mask: number[] = [];
  #n = 0;
  #loader: JetLoader;

  constructor(loader: JetLoader) {
    this.#loader = loader;
  }

  add(b: JetBatch): void {
    for (let j = 0; j < b.size; j++) {
      this.#fileIndex.push(b.fileIndex?.[j] ?? -1);
      this.#row.push(b.fileRow?.[j] ?? -1);
      if (b.labels) this.#labels.push(b.labels[j]);
    }
    for (let i = 0; i < b.size * b.nParticles; i++) this.#mask.push(b.valid[i]);
    this.#n = b.nParticles;
  }

  merge(p: PredictionArrays, data: PreparedData): PredictionArrays {
    const own = new Set(p.datasets.map((d) => d.name));
    const extra: PredictionArrays["datasets"] = [
      { name: "file_index", rowShape: [], dtype: "i64", data: this.#fileIndex },
      { name: "jet_index", rowShape: [], dtype: "i64", data: this.#row },
      { name: "mask", rowShape: [this.#n], dtype: "i8", data: this.#mask },
    ];
    if (this.#labels.length === this.#row.length && this.#labels.length) {
      extra.push({ name: "labels", rowShape: [], dtype: "i64", data: this.#labels });
    }
    const files = this.#loader.options.files;
    const classNames = classNamesOf(files[0]);
    return {
      datasets: [...p.datasets, ...extra.filter((d) => !own.has(d.name))],
      attributes: {
        ...p.attributes,
        files: JSON.stringify(files),
        split: splitPart(data, "test")
          ? `the test split (the last 10 % of each file, 80/10/10) of ${files.join(", ")}`
          : `all jets of ${files.join(", ")}`,
        rows: "file_index indexes `files`; jet_index is the jet's row in that file",
        ...(classNames ? { class_names: classNames.join(",") } : {}),
      },
    };
  }
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
