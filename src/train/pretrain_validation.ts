/**
 * Validation of a pre-training run: the mean of every loss over the validation stream, the
 * probe's accuracy, and, for generative tasks (those with a `sampleDropped` hook), samples of
 * the first batch's dropped particles compared with the truth (per-feature histograms and
 * 1-Wasserstein distances) and the jet-completion report. Data parallel, each rank validates
 * its share of every batch (the report: rank 0's share of the first batch) and the sums are
 * added over the ranks.
 *
 * @module
 */
import type { JetBatch } from "../data/loader.ts";
import { trimBatch } from "../mpm/prepare.ts";
import type { PretrainTask } from "../mpm/tasks.ts";
import { featureAxisLabel, histogram, histogramSvg } from "../eval/plots.ts";
import { writeAtomic } from "../io/files.ts";
import { completionReport } from "./completion.ts";
import type { PretrainRun, StepRecord } from "./pretrain.ts";

/** How the loop records one step (see `recordStep` in `pretrain.ts`). */
export type StepRecorder = (
  run: PretrainRun,
  batch: JetBatch,
  train: boolean,
  withProbe: boolean,
  seed: number,
) => StepRecord;

/**
 * Runs the validation stream once: mean losses by name, `probe_acc` when the probe ran, and the
 * generative tasks' reports on the first batch.
 *
 * @param run the run
 * @param record how the loop records a step (here without the backward pass)
 * @param release how the loop releases a step
 * @returns mean losses by name, and `probe_acc`
 */
export async function validatePretraining(
  run: PretrainRun,
  record: StepRecorder,
  release: (run: PretrainRun, r: StepRecord) => void,
): Promise<Record<string, number>> {
  const T = run.o.config.train, vl = run.validation();
  const sums = new Float64Array(run.names.length);
  let n = 0, correct = 0, counted = 0;
  // Data parallel: per batch, this rank's losses weighted by its dropped particles (the probe's
  // by its jets), then its dropped particles and jets; added over the ranks at the end, so each
  // batch's losses are the whole batch's.
  const L = run.names.length, probe = run.names.indexOf("probe");
  const shares = run.dp ? new Float64Array(T.valBatches * (L + 2)) : null;
  // A long validation (the paper preset: minutes) says where it is every 15 s.
  const t0 = performance.now();
  let noted = t0;
  for (let k = 0; k < T.valBatches; k++) {
    const batch = vl.next();
    if (!batch) break;
    if (batch.size === 0) continue; // a rank's share of a last batch shorter than the ranks
    const r = record(run, batch, false, !!run.probe, T.seed + 7);
    const vals = await Promise.all(r.losses.map((t) => t?.read()));
    if (shares) {
      const o = k * (L + 2);
      vals.forEach((v, i) =>
        shares[o + i] = (v ? v[0] : NaN) * (i === probe ? batch.size : r.inp.M)
      );
      shares[o + L] = r.inp.M;
      shares[o + L + 1] = batch.size;
    } else vals.forEach((v, i) => (sums[i] += (v ? v[0] : NaN) * batch.size));
    if (r.logits && batch.labels) {
      const lg = await r.logits.read() as Float32Array, C = lg.length / batch.size;
      for (let j = 0; j < batch.size; j++) {
        const row = Array.from(lg.subarray(j * C, (j + 1) * C));
        if (row.indexOf(Math.max(...row)) === batch.labels[j]) correct++;
        counted++;
      }
    }
    if (k === 0 && r.inp.M > 0 && !(run.dp && run.dp.mpi.rank > 0)) {
      for (const task of run.tasks) if (task.sampleDropped) await generativeReport(run, task, r);
    }
    n += batch.size;
    release(run, r);
    const now = performance.now();
    if (now - noted > 15_000 && k + 1 < T.valBatches) {
      const per = (now - t0) / (k + 1);
      run.log(
        `  validation: ${k + 1}/${T.valBatches} batches, ${((now - t0) / 1000).toFixed(0)} s, ETA ${
          ((per * (T.valBatches - k - 1)) / 1000).toFixed(0)
        } s`,
      );
      noted = now;
    }
  }
  vl.close();
  if (run.dp && shares) {
    // Data parallel: each rank validated its share of every batch; add the ranks' parts.
    const all = Float64Array.from([...shares, correct, counted]);
    run.dp.mpi.allreduceSum(all);
    [correct, counted] = all.subarray(shares.length);
    n = 0;
    for (let k = 0; k < T.valBatches; k++) {
      const o = k * (L + 2), m = all[o + L], jets = all[o + L + 1];
      if (!jets) continue;
      for (let i = 0; i < L; i++) {
        sums[i] += i === probe ? all[o + i] : m ? all[o + i] / m * jets : 0;
      }
      n += jets;
    }
  }
  const out: Record<string, number> = {};
  run.names.forEach((name, i) => (out[name] = sums[i] / Math.max(n, 1)));
  if (counted) out.probe_acc = correct / counted;
  return out;
}

/** A generative task's samples of a batch's dropped particles against the truth. */
async function generativeReport(run: PretrainRun, task: PretrainTask, r: StepRecord) {
  const { inp } = r, label = task.label ?? task.name.toUpperCase();
  const t0 = performance.now();
  run.log(`  ${label}: sampling the ${inp.M} dropped particles of a validation batch ...`);
  const gen = await task.sampleDropped!(r.tape, r.pass, inp);
  run.log(`  ${label}: sampled in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const truth = inp.xDropHost.subarray(0, inp.M * inp.F);
  await samplePlots(run, label, gen, truth, inp.M);
  const rep = await completionReport({
    label,
    batch: trimBatch(inp.batch),
    slots: inp.dropSlots,
    gen,
    truth,
    preprocessor: run.o.preprocessor,
    plots: run.files.plots,
    seed: run.o.config.train.seed,
  });
  if (!rep) return;
  run.log(
    `  ${label} jet completion, 1-Wasserstein to real jets (${label} | marginal baseline): ${
      Object.entries(rep).map(([k, v]) =>
        `${k} ${v.model.toPrecision(3)} | ${v.baseline.toPrecision(3)}`
      ).join(", ")
    }`,
  );
  await writeAtomic(
    `${run.files.plots}/${label.toLowerCase()}_completion.json`,
    JSON.stringify(rep, null, 2),
  );
}

/** Per-feature histograms of generated vs true dropped particles, and their W1 distances. */
async function samplePlots(
  run: PretrainRun,
  label: string,
  gen: Float32Array,
  truth: Float32Array,
  M: number,
): Promise<void> {
  const features = run.o.config.features, F = features.length;
  const w1: string[] = [];
  for (let f = 0; f < F; f++) {
    const g = Float64Array.from({ length: M }, (_, m) => gen[m * F + f]).sort();
    const t = Float64Array.from({ length: M }, (_, m) => truth[m * F + f]).sort();
    w1.push(
      `${features[f]} ${(g.reduce((s, v, i) => s + Math.abs(v - t[i]), 0) / M).toFixed(3)}`,
    );
    const [hg, ht] = [histogram(g, 40, -4, 4, true), histogram(t, 40, -4, 4, true)];
    await writeAtomic(
      `${run.files.plots}/${label.toLowerCase()}_${features[f]}.svg`,
      histogramSvg(hg.edges, [{ label: "true (dropped)", y: ht.counts }, {
        label: `${label} sample`,
        y: hg.counts,
      }], {
        title: `${label}: ${features[f]} of ${M} dropped particles`,
        xLabel: featureAxisLabel(features[f], true),
        yLabel: "density",
      }, [ht, hg]),
    );
  }
  run.log(
    `  ${label} sample vs truth, 1-Wasserstein per feature (normalised units): ${w1.join(", ")}`,
  );
}
