/**
 * Downstream training of a backbone, task-agnostic: the task (from `src/train/downstream/`)
 * owns its head, loss, metrics, plots and predictions; this loop owns the schedule. The
 * backbone starts frozen. In fine-tune mode it is unfrozen at step `unfreezeAt` and its learning
 * rate ramps linearly from ~0 to the head's over `catchup` steps (the reference's
 * `CatchupToLR`). Training stops early when the validation loss has not improved for `patience`
 * validations; the best weights are kept and evaluated on the test set.
 *
 * @module
 */
import { ParameterStore } from "../autograd/parameters.ts";
import { Tape } from "../autograd/tape.ts";
import { collectWeights, loadWeights, readWeights, writeWeights } from "../autograd/weights.ts";
import { JetFileReader } from "../data/hdf5.ts";
import { type JetBatch, JetLoader } from "../data/loader.ts";
import { QuantileTransform } from "../data/preprocess.ts";
import { lineSvg } from "../eval/plots.ts";
import type { Gpu } from "../gpu/gpu.ts";
import { writeAtomic } from "../io/files.ts";
import { Backbone, type BackboneInfo } from "../mpm/backbone.ts";
import { preset } from "../mpm/config.ts";
import { trimBatch } from "../mpm/prepare.ts";
import { InitRng } from "../nn/init.ts";
import { Validity } from "../nn/validity.ts";
import { AdamW } from "../optim/adamw.ts";
import { warmupCosine } from "../optim/schedule.ts";
import { downstreamTask } from "./downstream/registry.ts";
import { checkRunDir, claimRunDir } from "./rundir.ts";
import { labelSummary } from "../data/labels.ts";
import { type FileFingerprint, fingerprintFile } from "../io/fingerprint.ts";
import type { DownstreamTask, ForwardResult, Metrics, PreparedData } from "./downstream/task.ts";
import { evaluateTest } from "./evaluate.ts";

export type { Metrics } from "./downstream/task.ts";
export { TRACK_CLASS_WEIGHTS } from "./downstream/trackid.ts";

/** Options of {@linkcode finetune}. */
export interface FinetuneOptions {
  /** Device. */
  gpu: Gpu;
  /** Task name (`classify`, `cwola`, `btag`, `vertex`, `trackid`; see `DOWNSTREAM_TASKS`). */
  task: string;
  /** `backbone.safetensors`, or `"random"` for the randomly initialised baseline. */
  backbone: string;
  /** Shape of the random baseline (default: the pre-trained backbone's if `like` is given, else the small preset). */
  like?: string;
  /** Training files. */
  train: readonly string[];
  /** Validation files; omitted: the `val` split of the training files. */
  val?: readonly string[];
  /** Test files; omitted: the `test` split of the training files. */
  test?: readonly string[];
  /** Use only the first n training jets (CWoLa: n signal jets). */
  nTrain?: number;
  /** Keep the backbone frozen throughout (default true). */
  frozen?: boolean;
  /** Optimiser steps (upper bound; early stopping may end sooner). */
  steps?: number;
  /** Jets per batch. */
  batch?: number;
  /** Head learning rate. Default 1e-4 (reference). */
  lr?: number;
  /** Fine-tune mode: unfreeze the backbone at this step. Default 100. */
  unfreezeAt?: number;
  /** Fine-tune mode: steps of the backbone's learning-rate catch-up. Default 100. */
  catchup?: number;
  /** Steps between validations. Default 50. */
  valEvery?: number;
  /** Validations without improvement before stopping. Default 5. */
  patience?: number;
  /** Seed. */
  seed?: number;
  /** Output folder. */
  out: string;
  /** Cap on validation and test jets (speed). */
  maxEvalJets?: number;
  /** CWoLa: signal and background classes and sample sizes. */
  cwola?: { signal: number; background: number; nBackground?: number };
  /** Load head (and fine-tuned backbone) weights from this `head.safetensors` after building. */
  restore?: string;
  /** Replace an earlier run in `out`. */
  overwrite?: boolean;
  /** Skip and count bad jets instead of stopping. */
  skipBadJets?: boolean;
  /** Keep the hardest particles of jets longer than the backbone allows. */
  truncate?: boolean;
  /** Jet classes (default: from every training file's labels). */
  classes?: number;
  /** The command line, recorded in `run.json`. */
  command?: string[];
  /** Progress output. */
  log?: (line: string) => void;
}

/** The settings of a run with every default filled in. */
interface Settings {
  skipBadJets: boolean;
  truncate: boolean;
  classes?: number;
  seed: number;
  batch: number;
  steps: number;
  lr: number;
  frozen: boolean;
  unfreezeAt: number;
  catchup: number;
  valEvery: number;
  patience: number;
}

function settings(o: FinetuneOptions): Settings {
  const s = {
    skipBadJets: !!o.skipBadJets,
    truncate: !!o.truncate,
    classes: o.classes,
    seed: o.seed ?? 0,
    batch: o.batch ?? 64,
    steps: o.steps ?? 1000,
    lr: o.lr ?? 1e-4,
    frozen: o.frozen ?? true,
    unfreezeAt: o.unfreezeAt ?? 100,
    catchup: o.catchup ?? 100,
    valEvery: o.valEvery ?? 50,
    patience: o.patience ?? 5,
  };
  const bad = (name: string, v: number, want: string) => {
    throw new RangeError(`finetune: ${name} ${v} is not ${want}`);
  };
  if (!(s.lr > 0 && s.lr <= 1)) bad("lr", s.lr, "in (0, 1] (a negative rate trains by ascent)");
  if (!(Number.isInteger(s.steps) && s.steps >= 0)) bad("steps", s.steps, "an integer >= 0");
  if (!(Number.isInteger(s.batch) && s.batch >= 1)) bad("batch", s.batch, "an integer >= 1");
  if (!(Number.isInteger(s.valEvery) && s.valEvery >= 1)) {
    bad("valEvery", s.valEvery, "an integer >= 1");
  }
  if (!(Number.isInteger(s.patience) && s.patience >= 1)) {
    bad("patience", s.patience, "an integer >= 1");
  }
  if (o.nTrain !== undefined && !(Number.isInteger(o.nTrain) && o.nTrain >= 1)) {
    bad("nTrain", o.nTrain, "an integer >= 1");
  }
  return s;
}

/** The head's forward and loss on a batch (evaluation: no dropout, no label noise). */
export type HeadForward = (
  tape: Tape,
  batch: JetBatch,
  step: number,
  train: boolean,
) => ForwardResult;

/**
 * Trains a head on a backbone for one downstream task and evaluates it on the test set.
 * Writes `out/metrics.json`, `out/plots/*.svg`, `out/head.safetensors`, `out/predictions.h5`.
 *
 * @example
 * ```ts ignore
 * const m = await finetune({ gpu, task: "classify", backbone: "run/backbone.safetensors",
 *   train: ["train.h5"], val: ["val.h5"], test: ["test.h5"], nTrain: 1000, out: "ft" });
 * console.log(m.accuracy);
 * ```
 */
export async function finetune(o: FinetuneOptions): Promise<Metrics> {
  const { gpu } = o, task = downstreamTask(o.task), s = settings(o);
  const log = o.log ?? ((line: string) => console.log(line));
  const kind = o.restore ? "evaluate" : "finetune";
  await checkRunDir(o.out, { kind, overwrite: o.overwrite });
  // Backbone and head share one store: groups "backbone" and "head".
  const store = new ParameterStore(gpu);
  const bb = await buildBackbone(o, store, s.seed);
  const labels = labelSummary(o.train, { classes: o.classes });
  s.classes = labels?.classes;
  const claim = async () => {
    await claimRunDir(o.out, {
      kind,
      command: o.command,
      inputs: await fingerprints({ train: o.train, val: o.val, test: o.test }),
      seed: s.seed,
      task: task.name,
    }, { overwrite: o.overwrite });
    await Deno.mkdir(`${o.out}/plots`, { recursive: true });
    if (!o.restore) {
      const { gpu: _g, log: _l, ...saved } = o;
      await writeAtomic(`${o.out}/finetune.json`, JSON.stringify(saved, null, 2));
    }
  };
  // A task that builds its own samples (CWoLa) writes them into the run folder: claim it first.
  if (task.prepare) await claim();
  const data = await prepareData(task, o);
  const loader = (files: readonly string[], part: "train" | "val" | "test") =>
    dataLoader(files, part, bb.info, s, data, part === "train" ? data.nTrain : o.maxEvalJets);
  const trainLoader = loader(data.train, "train");
  if (data.nTrain !== undefined && trainLoader.length < data.nTrain) {
    throw new RangeError(
      `--n-train ${data.nTrain} is larger than the ${trainLoader.length} jets of the training ${
        data.split ? "split" : "files"
      } (${data.train.join(", ")}); use a smaller --n-train or more data`,
    );
  }
  if (trainLoader.length < s.batch && s.steps > 0) {
    throw new RangeError(
      `--batch ${s.batch} is larger than the ${trainLoader.length} training jets; use a smaller --batch or more data`,
    );
  }
  task.check(trainLoader.next()!, data.train[0]);
  trainLoader.restore({ epoch: 0, position: 0, streamIndex: 0 });
  if (!task.prepare) await claim();
  const outputs = task.outputs((labels?.classes ?? 1) - 1);
  const head = task.buildHead({
    store,
    rng: new InitRng(s.seed + 99),
    dim: bb.info.encoder.dim,
    outputs,
  });
  store.finalize();
  if (o.restore) {
    const file = await readWeights(o.restore, { fix: "re-run `deno task finetune`" });
    loadWeights(store, file, { missing: "keep" });
  }
  const forward: HeadForward = (tape, batch, step, train) => {
    const b = task.trims ? trimBatch(batch) : batch;
    const B = b.size, N = b.nParticles;
    const x = tape.keep(gpu.upload(b.x, [B, N, b.features.length]));
    const ids = tape.keep(gpu.upload(b.ids, [B, N]));
    const encoded = bb.forward(tape, x, ids, Validity.onTape(tape, b.valid, B, N));
    return task.forward(head, {
      gpu,
      tape,
      batch: b,
      encoded,
      registers: bb.info.encoder.registers,
      dim: bb.info.encoder.dim,
      train,
      dropout: train ? { p: 0.2, seed: s.seed, step } : undefined,
      step,
      seed: s.seed,
    });
  };
  const fit = await trainHead(
    o,
    s,
    store,
    forward,
    trainLoader,
    () => loader(data.val, "val"),
    log,
  );
  if (fit.done > 0) await saveHead(o, task, store, s.frozen, fit.rows);
  const metrics = await evaluateTest(gpu, task, forward, loader(data.test, "test"), {
    outputs,
    data,
    out: o.out,
  });
  // Training fields only where there was training (an evaluation of a saved head has none).
  if (fit.done > 0) {
    metrics.steps = fit.done;
    if (Number.isFinite(fit.best)) metrics.best_val_loss = fit.best;
  }
  await writeAtomic(`${o.out}/metrics.json`, JSON.stringify(metrics, null, 2));
  return metrics;
}

/** The pre-trained backbone, or a random one shaped like `like` (or the small preset). */
async function buildBackbone(o: FinetuneOptions, store: ParameterStore, seed: number) {
  if (o.backbone !== "random") return await Backbone.load(o.gpu, o.backbone, store);
  let info: BackboneInfo;
  if (o.like) info = (await Backbone.load(o.gpu, o.like)).info;
  else {
    const r = JetFileReader.open(o.train[0]);
    const sample = r.read(0, Math.min(r.info.n, 5000));
    r.close();
    info = {
      encoder: preset("small").encoder,
      features: [...sample.features],
      useIds: !!sample.ids,
      maxParticles: 128,
      preprocessor: QuantileTransform.fit([sample]),
    };
  }
  return Backbone.random(o.gpu, info, 1000 + seed, store);
}

/** The task's own data (CWoLa), or the given files (80/10/10 of the training files without val/test). */
async function prepareData(task: DownstreamTask, o: FinetuneOptions): Promise<PreparedData> {
  if (task.prepare) {
    return await task.prepare({
      train: o.train,
      val: o.val,
      test: o.test,
      nTrain: o.nTrain,
      out: o.out,
      cwola: o.cwola,
    });
  }
  const split = !o.val || !o.test;
  return {
    train: o.train,
    val: o.val ?? o.train,
    test: o.test ?? o.train,
    split,
    nTrain: o.nTrain,
  };
}

function dataLoader(
  files: readonly string[],
  part: "train" | "val" | "test",
  info: BackboneInfo,
  s: Settings,
  data: PreparedData,
  maxJets?: number,
): JetLoader {
  const train = part === "train";
  return new JetLoader({
    files,
    batchSize: s.batch,
    seed: s.seed,
    onBadJet: s.skipBadJets ? "skip" : "error",
    classes: s.classes,
    shuffle: train,
    loop: train,
    dropLast: train,
    maxJets,
    split: data.split ? part : undefined,
    features: info.features,
    maxParticles: info.maxParticles,
    truncate: s.truncate,
    preprocessor: info.preprocessor,
  });
}

/** Fingerprints of the inputs by role (for `run.json`). */
async function fingerprints(
  roles: Record<string, readonly string[] | undefined>,
): Promise<Record<string, FileFingerprint[]>> {
  const out: Record<string, FileFingerprint[]> = {};
  for (const [role, files] of Object.entries(roles)) {
    if (files) out[role] = await Promise.all(files.map((f) => fingerprintFile(f)));
  }
  return out;
}

/** The training loop: steps, validation, early stopping; the best weights end in the store. */
async function trainHead(
  o: FinetuneOptions,
  s: Settings,
  store: ParameterStore,
  forward: HeadForward,
  trainLoader: JetLoader,
  valLoader: () => JetLoader,
  log: (line: string) => void,
): Promise<{ done: number; best: number; rows: number[][] }> {
  const { gpu } = o;
  const backbone = store.group("backbone");
  backbone.frozen = true;
  const opt = new AdamW(store, {
    lr: s.lr,
    weightDecay: 1e-5,
    maxNorm: 1,
    schedule: warmupCosine({
      warmup: Math.min(500, Math.floor(s.steps / 10)),
      total: s.steps,
      floor: 1e-3,
      initFactor: 0.1,
    }),
  });
  const lossBuf = gpu.zeros([Math.max(s.valEvery, 1)]);
  let best = Infinity, bestValues: Map<string, Float32Array> | null = null, bad = 0, done = 0;
  const rows: number[][] = [];
  const t0 = performance.now();
  for (let step = 0; step < s.steps; step++) {
    if (!s.frozen && step >= s.unfreezeAt) {
      backbone.frozen = false;
      const ramp = (step - s.unfreezeAt + 1) / Math.max(s.catchup, 1);
      backbone.lrScale = Math.max(1e-8 / s.lr, Math.min(1, ramp));
    }
    store.zeroGrad();
    const tape = new Tape(gpu);
    const r = forward(tape, trainLoader.next()!, step, true);
    tape.backward(r.loss);
    opt.step();
    gpu.copy(r.loss, lossBuf.view([1], step % s.valEvery));
    tape.dispose();
    gpu.submit();
    done = step + 1;
    if (done % s.valEvery !== 0 && done !== s.steps) continue;
    const tl = await lossBuf.read() as Float32Array;
    const k = (done - 1) % s.valEvery + 1;
    const trainLoss = tl.slice(0, k).reduce((a, v) => a + v, 0) / k;
    const vl = await validationLoss(gpu, forward, valLoader());
    rows.push([done, trainLoss, vl]);
    const rate = (done * s.batch) / ((performance.now() - t0) / 1000);
    log(
      `step ${done}/${s.steps} | ${rate.toFixed(0)} jets/s | train ${trainLoss.toFixed(4)} | val ${
        vl.toFixed(4)
      }${vl < best ? " (best)" : ""}`,
    );
    if (!Number.isFinite(vl)) {
      throw new Error(`validation loss became ${vl} at step ${done}; lower the learning rate`);
    }
    if (vl < best) {
      best = vl;
      bad = 0;
      bestValues = await store.read();
    } else if (++bad >= s.patience) {
      log(`early stop at step ${done}: no improvement for ${s.patience} validations`);
      break;
    }
  }
  trainLoader.close();
  lossBuf.dispose();
  if (bestValues) store.write(bestValues);
  return { done, best, rows };
}

/** Mean loss over a validation stream. */
async function validationLoss(gpu: Gpu, forward: HeadForward, l: JetLoader): Promise<number> {
  let sum = 0, n = 0;
  for (let b = l.next(); b; b = l.next()) {
    const tape = new Tape(gpu);
    const r = forward(tape, b, 0, false);
    sum += (await r.loss.read())[0] * b.size;
    n += b.size;
    tape.dispose();
    gpu.submit();
  }
  l.close();
  return sum / Math.max(n, 1);
}

/** Writes `train.csv`, the loss plot and `head.safetensors` (the best weights). */
async function saveHead(
  o: FinetuneOptions,
  task: DownstreamTask,
  store: ParameterStore,
  frozen: boolean,
  rows: number[][],
): Promise<void> {
  const csv = ["step,train_loss,val_loss", ...rows.map((r) => r.join(","))];
  await writeAtomic(`${o.out}/train.csv`, csv.join("\n") + "\n");
  await writeAtomic(
    `${o.out}/plots/loss.svg`,
    lineSvg([
      { label: "train", x: rows.map((r) => r[0]), y: rows.map((r) => r[1]) },
      { label: "validation", x: rows.map((r) => r[0]), y: rows.map((r) => r[2]) },
    ], { title: `${task.name}: loss`, xLabel: "step", yLabel: "loss" }),
  );
  // The head, and the backbone too when it was fine-tuned.
  const head = await collectWeights(store, {
    filter: (name) => !frozen || store.get(name).group.name !== "backbone",
  });
  await writeWeights(`${o.out}/head.safetensors`, head, { task: task.name, backbone: o.backbone });
}

/**
 * Re-evaluates a finished fine-tuning run (its `finetune.json` and `head.safetensors`) on new
 * test files, writing `metrics.json`, plots and predictions into `out` (default `run/eval`).
 *
 * @example
 * ```ts ignore
 * const m = await evaluateRun(gpu, "ft", ["other_test.h5"]);
 * ```
 */
export async function evaluateRun(
  gpu: Gpu,
  runDir: string,
  test: readonly string[],
  out = `${runDir}/eval`,
  o: { overwrite?: boolean; command?: string[] } = {},
): Promise<Metrics> {
  let saved: Omit<FinetuneOptions, "gpu">;
  try {
    saved = JSON.parse(await Deno.readTextFile(`${runDir}/finetune.json`));
  } catch (e) {
    throw new Error(
      `${runDir}: not a fine-tuning run (${
        (e as Error).message
      }); create one with \`deno task finetune\``,
    );
  }
  return await finetune({
    ...saved,
    gpu,
    test,
    val: saved.val ?? saved.train,
    steps: 0,
    restore: `${runDir}/head.safetensors`,
    out,
    overwrite: o.overwrite,
    command: o.command,
    log: () => {},
  });
}
