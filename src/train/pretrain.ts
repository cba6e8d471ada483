/**
 * The MPM pre-training loop, top to bottom: build the run (model, tasks from the registry,
 * probe, optimiser, loaders, log), then for each step stream a batch, mask it (seeded per jet),
 * record forward, backward and AdamW into one command encoder and submit once; every
 * `logEvery` steps read the loss window (the only readback) and log; validate and checkpoint on
 * their schedules; finish with the plots. Tasks own their losses and reports; this file owns
 * only the schedule.
 *
 * @module
 */
import { ParameterStore } from "../autograd/parameters.ts";
import * as ops from "../autograd/ops.ts";
import { Tape } from "../autograd/tape.ts";
import { type JetBatch, JetLoader, type LoaderState } from "../data/loader.ts";
import type { Preprocessor } from "../data/preprocess.ts";
import type { Gpu } from "../gpu/gpu.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { MPMConfig, RunData } from "../mpm/config.ts";
import { MPMModel, type MPMPassOutput } from "../mpm/model.ts";
import { prepareInputs, type StepInputs } from "../mpm/prepare.ts";
import { buildProbe, buildTasks, maskingFor } from "../mpm/registry.ts";
import type { LinearProbe, MaskingFn, PretrainTask } from "../mpm/tasks.ts";
import { InitRng } from "../nn/init.ts";
import { AdamW } from "../optim/adamw.ts";
import { warmupExpDecay } from "../optim/schedule.ts";
import { loadCheckpoint, readCheckpoint, saveCheckpoint, type TrainState } from "./checkpoint.ts";
import { checkRunDir, claimRunDir } from "./rundir.ts";
import { fingerprintFile } from "../io/fingerprint.ts";
import { savePreprocessor } from "../data/preprocess.ts";
import { LossWindow, MetricsCsv, NonFiniteLossError, writePlots } from "./runlog.ts";
import { validatePretraining } from "./pretrain_validation.ts";
import { writeAtomic } from "../io/files.ts";
import { installRunTuning, tuneRun } from "./tuning.ts";
import type { Mpi } from "../io/mpi.ts";
import { DataParallel, type PendingExchange } from "./data_parallel.ts";

export { checkObjective } from "../mpm/registry.ts";
export { writePlots } from "./runlog.ts";

/** Options of {@linkcode pretrain}. */
export interface PretrainOptions {
  /** Device. */
  gpu: Gpu;
  /** Resolved configuration. */
  config: MPMConfig;
  /** Training files (HDF5). */
  trainFiles: readonly string[];
  /** Validation files; default: the `val` split of the training files. */
  valFiles?: readonly string[];
  /** Output folder. */
  out: string;
  /** Feature preprocessing (saved next to the backbone). */
  preprocessor: Preprocessor;
  /** Where the preprocessing came from (recorded in `config.json`). */
  preprocessorSource?: string;
  /** Continue from the checkpoint in `out`. */
  resume?: boolean;
  /** Replace an earlier run in `out` (a new run refuses a folder holding another run). */
  overwrite?: boolean;
  /** Skip and count bad jets instead of stopping (`--skip-bad-jets`). */
  skipBadJets?: boolean;
  /** Keep the hardest `maxParticles` of longer jets instead of refusing them (`--truncate`). */
  truncate?: boolean;
  /** Number of jet classes (labels must lie in 0..classes-1). */
  classes?: number;
  /** The command line, recorded in `run.json`. */
  command?: string[];
  /**
   * Data-parallel training over MPI: every rank runs this call with the same options, computes
   * its share of each batch (the same seeded stream everywhere, so resume is exact) and the
   * gradients are averaged before each step. Give rank 0 the real `out` (the CLI gives the
   * others a scratch copy).
   */
  mpi?: Mpi;
  /** Stop (as if interrupted) after this many steps; for tests. */
  stopAfter?: number;
  /** Progress output. Default console.log. */
  log?: (line: string) => void;
}

/** What a run produced. */
export interface PretrainResult {
  /** Steps done. */
  step: number;
  /** Last validation losses by name (and `probe_acc`). */
  val: Record<string, number>;
  /** Files written. */
  files: { config: string; model: string; backbone: string; metrics: string; plots: string };
  /** Bad jets skipped (with `skipBadJets`), by reason. */
  skipped: Record<string, number>;
}

/** Everything a pre-training run holds while its loop runs. */
export interface PretrainRun {
  /** The options it was started with. */
  readonly o: PretrainOptions;
  /** Progress output. */
  readonly log: (line: string) => void;
  /** Output files. */
  readonly files: PretrainResult["files"];
  /** Parameters of the model, tasks and probe. */
  readonly store: ParameterStore;
  /** The encoder-decoder. */
  readonly model: MPMModel;
  /** Tasks from the registry. */
  readonly tasks: readonly PretrainTask[];
  /** The linear probe, when configured. */
  readonly probe: LinearProbe | null;
  /** How batches are masked. */
  readonly masking: MaskingFn;
  /** The optimiser. */
  readonly opt: AdamW;
  /** The training stream. */
  readonly loader: JetLoader;
  /** A fresh validation stream (same jets every time). */
  readonly validation: () => JetLoader;
  /** Loss names: `total`, each task, and `probe`. */
  readonly names: readonly string[];
  /** Steps this invocation runs to. */
  readonly stopAt: number;
  /** Data parallelism, when running on more than one rank. */
  readonly dp?: DataParallel;
}

/** One recorded step: what it produced and what must be released after it. */
export interface StepRecord {
  /** The step's tape. */
  tape: Tape;
  /** The probe's encoder tape (detached: not part of the backward pass). */
  probeTape: Tape | null;
  /** The step inputs. */
  inp: StepInputs;
  /** `total`, each task's loss, and the probe's (or null when it did not run). */
  losses: (Tensor | null)[];
  /** Probe logits (B, classes), when the probe ran. */
  logits: Tensor | null;
  /** The model pass. */
  pass: MPMPassOutput;
}

/**
 * Pre-trains an MPM model; resumable; see `tasks/pretrain.ts` for the command line.
 *
 * @example
 * ```ts ignore
 * const gpu = await requestGpu();
 * await pretrain({ gpu, config: preset("small"), trainFiles: ["jets.h5"], out: "run", preprocessor });
 * ```
 */
export async function pretrain(o: PretrainOptions): Promise<PretrainResult> {
  await checkRunDir(o.out, {
    kind: "pretrain",
    overwrite: o.overwrite,
    resume: o.resume,
    required: ["config.json", "metrics.csv"],
  });
  if (o.resume) await readCheckpoint(o.out);
  const run = await buildRun(o), T = o.config.train;
  const { state, csv } = o.resume ? await resumeRun(run) : await startRun(run);
  await run.dp?.start(T.batch);
  if (o.resume) await installRunTuning(o.gpu, o.out);
  const window = new LossWindow(o.gpu, T.logEvery, run.names);
  const rate = { since: performance.now(), jets: 0 };
  const t0 = performance.now() - state.elapsed * 1000;
  let val: Record<string, number> = {}, lastGood = state.step;
  // Data parallel: the next batch is loaded while the gradients are read back; `ahead` holds it
  // and `behind` the loader's position before it (what a checkpoint after this step records).
  // On a step that ends with no readback of its own (no log, validation or checkpoint), the
  // allreduce stays `pending` while the optimiser step and the next step are recorded, and ends
  // just before that next step is submitted.
  let ahead: JetBatch | undefined, behind: LoaderState | undefined;
  let pending: PendingExchange | undefined;
  const dropped = new Map<number, number>(); // data parallel: this rank's dropped particles by step
  for (let s = state.step; s < run.stopAt; s++) {
    const batch = ahead ?? run.loader.next()!;
    ahead = behind = undefined;
    const withProbe = !!run.probe && s % o.config.tasks.probe!.every === 0;
    const r = recordStep(run, batch, true, withProbe, T.seed);
    const done = s + 1;
    const checkpoint = done % T.checkpointEvery === 0 || done === T.steps;
    const quiet = s !== state.step && done < run.stopAt && !checkpoint &&
      done % T.logEvery !== 0 && done % T.valEvery !== 0;
    if (run.dp) {
      await pending?.finish();
      dropped.set(done, r.inp.M);
      pending = await run.dp.beginAverage(() => {
        if (s + 1 >= run.stopAt) return;
        behind = run.loader.state;
        ahead = run.loader.next()!;
      }, { weight: r.inp.M, unweighted: ["probe"] });
    }
    applyStep(run);
    window.record(s, r.losses);
    if (!quiet) await pending?.finish();
    releaseStep(run, r, !(quiet && pending));
    if (s === state.step) await tuneRun(o.gpu, o.out, run.log);
    rate.jets += batch.fullSize ?? batch.size;
    // Every step up to a checkpoint is in metrics.csv before the checkpoint is written: a run
    // killed after it resumes from it and logs only the steps after it.
    if (done % T.logEvery === 0 || done === run.stopAt || checkpoint) {
      await logWindow(run, window, csv, done, rate, lastGood, dropped);
    }
    if (done % T.valEvery === 0 || done === T.steps) {
      val = await validatePretraining(run, recordStep, releaseStep);
      await csv.append([[done, "val", "", ...run.names.map((n) => val[n]), val.probe_acc, ""]]);
      run.log(
        `  validation at step ${done}: ` +
          Object.entries(val).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(" "),
      );
    }
    if (checkpoint) {
      const elapsed = (performance.now() - t0) / 1000;
      const loader = behind ?? run.loader.state;
      const st: TrainState = { step: done, loader, seed: T.seed, elapsed };
      await saveCheckpoint(o.out, run.store, st, {
        save: (path) => run.model.backbone.save(path, o.preprocessor),
      });
      lastGood = done;
    }
  }
  await writePlots(run.files.metrics, run.files.plots, {
    probeClasses: o.config.tasks.probe?.classes,
  });
  run.loader.close();
  window.dispose();
  const skipped = run.loader.skipped;
  if (Object.keys(skipped).length) {
    run.log(`skipped bad jets: ${Object.entries(skipped).map(([k, n]) => `${n} ${k}`).join(", ")}`);
  }
  if (run.dp) run.log(run.dp.summary(run.stopAt - state.step));
  return { step: run.stopAt, val, files: run.files, skipped };
}

/** Builds the model, the registry's tasks and probe, the optimiser and the data streams. */
async function buildRun(o: PretrainOptions): Promise<PretrainRun> {
  const { gpu, config } = o, T = config.train;
  const store = new ParameterStore(gpu);
  const model = new MPMModel(store, config);
  const rng = new InitRng(T.seed + 1);
  const tasks = await buildTasks({ gpu, store, rng, model, config, preprocessor: o.preprocessor });
  const probe = buildProbe(config, store, rng);
  store.finalize();
  const opt = new AdamW(store, {
    lr: T.lr,
    weightDecay: T.weightDecay,
    maxNorm: T.clip,
    schedule: warmupExpDecay({ warmup: T.warmup, halfLife: T.halfLife, floor: T.floor }),
  });
  const common = {
    batchSize: T.batch,
    features: config.features,
    maxParticles: config.maxParticles,
    truncate: o.truncate,
    onBadJet: o.skipBadJets ? "skip" as const : "error" as const,
    classes: o.classes,
    preprocessor: o.preprocessor,
    seed: T.seed,
  };
  const split = o.valFiles ? undefined : "train" as const;
  // Data parallel: every rank walks the same stream and builds only its share of each batch.
  const share = o.mpi && o.mpi.size > 1 ? { rank: o.mpi.rank, ranks: o.mpi.size } : undefined;
  const loader = new JetLoader({ ...common, files: o.trainFiles, split, share });
  // Read (and validate) the first window now, before anything is written: a bad file fails the
  // run before it touches its folder.
  const start = loader.state;
  loader.next();
  loader.restore(start);
  if (loader.length < T.batch) {
    loader.close();
    throw new RangeError(
      `--batch ${T.batch} is larger than the ${loader.length} jets of the training ${
        split ? "split" : "files"
      } (${o.trainFiles.join(", ")}); use a smaller --batch or more data`,
    );
  }
  const validation = () =>
    new JetLoader({
      ...common,
      files: o.valFiles ?? o.trainFiles,
      split: o.valFiles ? undefined : "val",
      share, // each rank validates its share of every batch; the sums are added up
      shuffle: false,
      loop: false,
      dropLast: false,
      seed: T.seed + 7,
    });
  return {
    o,
    log: o.log ?? ((s: string) => console.log(s)),
    files: {
      config: `${o.out}/config.json`,
      model: `${o.out}/model.safetensors`,
      backbone: `${o.out}/backbone.safetensors`,
      metrics: `${o.out}/metrics.csv`,
      plots: `${o.out}/plots`,
    },
    store,
    model,
    tasks,
    probe,
    masking: maskingFor(config),
    opt,
    loader,
    validation,
    names: ["total", ...tasks.map((t) => t.name), ...(probe ? ["probe"] : [])],
    stopAt: Math.min(T.steps, o.stopAfter ?? Infinity),
    dp: o.mpi && o.mpi.size > 1 ? new DataParallel(o.mpi, store) : undefined,
  };
}

/** The metrics columns of a run. */
function columns(run: PretrainRun): string[] {
  return ["step", "split", "lr", ...run.names, "probe_acc", "jets_per_s"];
}

/**
 * A new run: takes the folder (inputs and device are ready), records the inputs in `run.json`
 * and `config.json`, writes the preprocessing and an empty metrics file.
 */
async function startRun(run: PretrainRun): Promise<{ state: TrainState; csv: MetricsCsv }> {
  const { o } = run, T = o.config.train;
  const train = await Promise.all(o.trainFiles.map((f) => fingerprintFile(f)));
  const val = o.valFiles ? await Promise.all(o.valFiles.map((f) => fingerprintFile(f))) : undefined;
  const pre = JSON.stringify(o.preprocessor.toJSON());
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(pre)),
  );
  const data: RunData = {
    train,
    val,
    preprocessor: {
      kind: o.preprocessor.toJSON().kind,
      source: o.preprocessorSource ?? "given by the caller",
      sha256: [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""),
    },
  };
  await claimRunDir(o.out, {
    kind: "pretrain",
    command: o.command,
    inputs: { train, ...(val ? { val } : {}) },
    seed: T.seed,
  }, { overwrite: o.overwrite });
  await Deno.mkdir(run.files.plots, { recursive: true });
  await savePreprocessor(`${o.out}/preprocessor.json`, o.preprocessor);
  await writeAtomic(run.files.config, JSON.stringify({ ...o.config, data }, null, 2));
  const csv = await MetricsCsv.create(run.files.metrics, columns(run));
  return { state: { step: 0, loader: run.loader.state, seed: T.seed, elapsed: 0 }, csv };
}

/** A resumed run: weights, moments, loader position and the metrics up to the checkpoint. */
async function resumeRun(run: PretrainRun): Promise<{ state: TrainState; csv: MetricsCsv }> {
  const state = await loadCheckpoint(run.o.out, run.store);
  // The config may carry a longer schedule (--steps) or re-recorded data (--data-changed).
  await writeAtomic(run.files.config, JSON.stringify(run.o.config, null, 2));
  run.opt.restore(state.step); // every group trains at every pre-training step
  run.loader.restore(state.loader);
  const csv = await MetricsCsv.resume(run.files.metrics, columns(run), state.step);
  run.log(`resumed ${run.o.out} at step ${state.step}`);
  return { state, csv };
}

/**
 * Records one step into the current command encoder: mask, prepare, forward the model and the
 * tasks, and (training) the backward pass ({@linkcode applyStep} then records AdamW). The
 * probe reads a detached encoder pass on the full jets; its loss joins the backward pass but not
 * the logged objective.
 */
function recordStep(
  run: PretrainRun,
  batch: JetBatch,
  train: boolean,
  withProbe: boolean,
  seed: number,
): StepRecord {
  const { gpu, config } = run.o;
  const inp = prepareInputs(gpu, batch, run.masking(batch, seed), {
    registers: config.encoder.registers,
    maxParticles: config.maxParticles,
  });
  if (train) run.store.zeroGrad();
  const tape = new Tape(gpu);
  const pass = run.model.forward(tape, inp);
  const terms = run.tasks.map((t) => [t.loss(tape, pass, inp), t.weight] as [Tensor, number]);
  const objective = ops.weightedSum(tape, terms);
  let probeTape: Tape | null = null, logits: Tensor | null = null, probeLoss: Tensor | null = null;
  if (run.probe && withProbe) {
    probeTape = new Tape(gpu);
    const enc = run.model.encode(probeTape, inp.x, inp.ids, inp.valid);
    const p = run.probe.forward(tape, enc.out, enc.valid.tensor, inp.labels);
    probeLoss = p.loss;
    logits = p.logits;
  }
  if (train) {
    // Data parallel: the objective is a mean over this rank's dropped particles; scaled by
    // their count, the exchange divides the summed gradients by the whole batch's count.
    const scaled = run.dp ? ops.weightedSum(tape, [[objective, inp.M]]) : objective;
    tape.backward(probeLoss ? ops.add(tape, scaled, probeLoss) : scaled);
  }
  const losses = [objective, ...terms.map((t) => t[0]), ...(run.probe ? [probeLoss] : [])];
  return { tape, probeTape, inp, losses, logits, pass };
}

/** Records the optimiser step and the tasks' after-step updates (e.g. EMA weights). */
function applyStep(run: PretrainRun): void {
  run.opt.step();
  for (const t of run.tasks) t.afterStep?.();
}

/** Releases a step's tapes and inputs, and submits it (unless `submit` is false). */
function releaseStep(run: PretrainRun, r: StepRecord, submit = true): void {
  r.tape.dispose();
  r.probeTape?.dispose();
  r.inp.dispose();
  if (submit) run.o.gpu.submit();
}

/** Reads the loss window, appends its rows to the CSV, and prints the progress line. */
async function logWindow(
  run: PretrainRun,
  window: LossWindow,
  csv: MetricsCsv,
  done: number,
  rate: { since: number; jets: number },
  lastGood: number,
  dropped: Map<number, number>,
): Promise<void> {
  const { o, opt } = run, T = o.config.train;
  const advice = () =>
    `the last good checkpoint is ${o.out} (step ${lastGood}). Lower the learning rate or check the data, then --resume`;
  let rows: Awaited<ReturnType<LossWindow["flush"]>> = [];
  let bad: NonFiniteLossError | undefined;
  try {
    rows = await window.flush(done, advice);
  } catch (e) {
    if (!(e instanceof NonFiniteLossError) || !run.dp) throw e;
    bad = e;
  }
  if (run.dp) {
    // A non-finite loss on any rank stops every rank (the others would wait for it forever).
    const flag = Float64Array.of(bad ? 1 : 0);
    run.dp.mpi.allreduceSum(flag);
    if (bad) throw bad;
    if (flag[0] > 0) {
      throw new NonFiniteLossError(
        "total",
        NaN,
        done,
        `on another rank, by this step; ${advice()}`,
      );
    }
    // Each rank measured its share: the logged losses are the whole batch's, i.e. the ranks'
    // means weighted by their dropped particles (the probe's: by their equal numbers of jets).
    const probe = run.names.indexOf("probe"), W = run.names.length + 1;
    const flat = new Float64Array(rows.length * W);
    rows.forEach((r, i) => {
      const m = dropped.get(r.step) ?? 0;
      r.values.forEach((v, k) => (flat[i * W + k] = k === probe ? v : v * m));
      flat[i * W + W - 1] = m;
      dropped.delete(r.step);
    });
    run.dp.mpi.allreduceSum(flat);
    rows.forEach((r, i) => {
      const m = flat[i * W + W - 1], n = run.dp!.mpi.size;
      // (No dropped particle on any rank: the losses are 0, as on one rank.)
      r.values = r.values.map((_, k) =>
        k === probe ? flat[i * W + k] / n : m ? flat[i * W + k] / m : 0
      );
    });
  }
  const now = performance.now(), perSec = rate.jets / ((now - rate.since) / 1000);
  await csv.append(rows.map((r, k) => [
    r.step,
    "train",
    opt.options.lr * opt.options.schedule(r.step - 1),
    ...r.values,
    "",
    k === rows.length - 1 ? perSec : "",
  ]));
  rate.since = now;
  rate.jets = 0;
  // Latest value of each loss in the window (the probe does not run every step).
  const last = run.names.map((_, k) => {
    for (let i = rows.length - 1; i >= 0; i--) {
      if (Number.isFinite(rows[i].values[k])) return rows[i].values[k];
    }
    return NaN;
  });
  const eta = ((run.stopAt - done) * T.batch) / Math.max(perSec, 1e-9);
  run.log(
    `step ${done}/${T.steps} | ${perSec.toFixed(0)} jets/s | ETA ${Math.round(eta)}s | ` +
      run.names.map((n, k) => `${n} ${Number.isFinite(last[k]) ? last[k].toFixed(4) : "-"}`)
        .join(" "),
  );
}
