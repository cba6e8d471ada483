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
import { collectWeights, loadWeights, readWeights, writeWeights } from "../autograd/weights.ts";
import { JetFileReader } from "../data/hdf5.ts";
import { JetLoader } from "../data/loader.ts";
import { QuantileTransform } from "../data/preprocess.ts";
import { lineSvg } from "../eval/plots.ts";
import type { Gpu } from "../gpu/gpu.ts";
import { writeAtomic } from "../io/files.ts";
import { Backbone, type BackboneInfo } from "../mpm/backbone.ts";
import { preset } from "../mpm/config.ts";
import { trimBatch } from "../mpm/prepare.ts";
import { InitRng } from "../nn/init.ts";
import { Validity } from "../nn/validity.ts";
import { downstreamTask } from "./downstream/registry.ts";
import { checkRunDir, claimRunDir } from "./rundir.ts";
import { labelSummary } from "../data/labels.ts";
import { fingerprintRoles } from "../io/fingerprint.ts";
import {
  type DownstreamTask,
  type Metrics,
  type PreparedData,
  splitPart,
} from "./downstream/task.ts";
import { evaluateTest } from "./evaluate.ts";
import { startDataParallel } from "./data_parallel.ts";
import type { Mpi } from "../io/mpi.ts";
import { type HeadForward, type HeadSchedule, trainHead } from "./head_training.ts";
import {
  type BackboneMode,
  downstreamProtocol,
  type ProtocolPreset,
} from "./downstream/protocol.ts";

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
  /**
   * Keep the backbone frozen throughout (default true). With `backbone: "random"` and `false`,
   * the run is the paper's `scratch` baseline.
   */
  frozen?: boolean;
  /**
   * The schedule's rules ({@linkcode downstreamProtocol}): `budget` (default) scales the
   * reference's schedule to `steps`, `reference` is the paper's literal schedule. Every option
   * below overrides its rule.
   */
  protocol?: ProtocolPreset;
  /** Optimiser steps (upper bound; early stopping may end sooner). Default 1000 (CWoLa: 10 epochs). */
  steps?: number;
  /** Jets per batch. Default 64. */
  batch?: number;
  /** Head learning rate. Default 1e-4 (scratch: 1e-3), the reference's. */
  lr?: number;
  /** Warm-up steps. Default: the protocol's (5 % of the steps). */
  warmup?: number;
  /** Fine-tune mode: unfreeze the backbone at this step. Default: the protocol's. */
  unfreezeAt?: number;
  /** Fine-tune mode: steps of the backbone's learning-rate catch-up. Default: the protocol's. */
  catchup?: number;
  /** Steps between validations. Default 50 (CWoLa: once, at the end). */
  valEvery?: number;
  /** Validations without improvement before stopping. Default: the protocol's (by size). */
  patience?: number;
  /** Seed. */
  seed?: number;
  /** Output folder. */
  out: string;
  /** Cap on validation and test jets (speed); `maxValJets` / `maxTestJets` set each alone. */
  maxEvalJets?: number;
  /** Cap on validation jets (default `maxEvalJets`). */
  maxValJets?: number;
  /** Cap on test jets (default `maxEvalJets`). */
  maxTestJets?: number;
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
  /**
   * Data-parallel training over MPI: every rank runs this call with the same options, trains on
   * its share of each batch and averages gradients; give rank 0 the real `out` and the others a
   * scratch folder (the CLI does).
   */
  mpi?: Mpi;
  /** The command line, recorded in `run.json`. */
  command?: string[];
  /** Progress output. */
  log?: (line: string) => void;
}

/** The settings of a run with every default filled in. */
interface Settings extends HeadSchedule {
  skipBadJets: boolean;
  truncate: boolean;
  classes?: number;
  seed: number;
}

/** Data settings (what the loaders need) with the schedule still open. */
function baseSettings(o: FinetuneOptions): Settings {
  const batch = o.batch ?? 64;
  if (!(Number.isInteger(batch) && batch >= 1)) {
    throw new RangeError(`finetune: batch ${batch} is not an integer >= 1`);
  }
  if (o.nTrain !== undefined && !(Number.isInteger(o.nTrain) && o.nTrain >= 1)) {
    throw new RangeError(`finetune: nTrain ${o.nTrain} is not an integer >= 1`);
  }
  return {
    skipBadJets: !!o.skipBadJets,
    truncate: !!o.truncate,
    classes: o.classes,
    seed: o.seed ?? 0,
    batch,
    steps: 0,
    lr: 0,
    warmup: 0,
    frozen: o.frozen ?? true,
    unfreezeAt: 0,
    catchup: 1,
    valEvery: 1,
    patience: 1,
    keepBest: true,
  };
}

/** How the run uses its backbone, in the paper's words. */
export function backboneMode(o: Pick<FinetuneOptions, "backbone" | "frozen">): BackboneMode {
  return (o.frozen ?? true) ? "frozen" : o.backbone === "random" ? "scratch" : "finetuned";
}

/** The schedule: the protocol's rules for this task, size and mode, then the explicit options. */
function withSchedule(o: FinetuneOptions, s: Settings, task: string, nTrain: number): Settings {
  const p = downstreamProtocol({
    task,
    mode: backboneMode(o),
    nTrain: Math.max(nTrain, 1),
    batch: s.batch,
    preset: o.protocol,
    // The rules scale to the steps given (an evaluation of a saved head trains for 0).
    steps: o.protocol === "reference" || !o.steps ? undefined : o.steps,
  });
  const out: Settings = {
    ...s,
    steps: o.steps ?? p.steps,
    lr: o.lr ?? p.lr,
    warmup: o.warmup ?? p.warmup,
    unfreezeAt: o.unfreezeAt ?? p.unfreezeAt,
    catchup: o.catchup ?? p.catchup,
    valEvery: o.valEvery ?? p.valEvery,
    patience: o.patience ?? p.patience,
    keepBest: p.keepBest,
  };
  out.warmup = Math.min(out.warmup, out.steps);
  out.valEvery = Math.min(out.valEvery, Math.max(out.steps, 1));
  const bad = (name: string, v: number, want: string) => {
    throw new RangeError(`finetune: ${name} ${v} is not ${want}`);
  };
  if (!(out.lr > 0 && out.lr <= 1)) {
    bad("lr", out.lr, "in (0, 1] (a negative rate trains by ascent)");
  }
  if (!(Number.isInteger(out.steps) && out.steps >= 0)) bad("steps", out.steps, "an integer >= 0");
  if (!(Number.isInteger(out.valEvery) && out.valEvery >= 1)) {
    bad("valEvery", out.valEvery, "an integer >= 1");
  }
  if (!(out.patience >= 1)) bad("patience", out.patience, "an integer >= 1");
  if (!(Number.isInteger(out.warmup) && out.warmup >= 0)) {
    bad("warmup", out.warmup, "an integer >= 0");
  }
  if (!(out.unfreezeAt >= 0) || !(Number.isInteger(out.catchup) && out.catchup >= 0)) {
    bad("unfreezeAt/catchup", out.unfreezeAt, "integers >= 0");
  }
  return out;
}

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
  const { gpu } = o, task = downstreamTask(o.task);
  // Explicit values are checked before anything is written; the schedule follows the data.
  let s = withSchedule(o, baseSettings(o), task.name, o.nTrain ?? 1);
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
      inputs: await fingerprintRoles({ train: o.train, val: o.val, test: o.test }),
      seed: s.seed,
      task: task.name,
    }, { overwrite: o.overwrite });
    await Deno.mkdir(`${o.out}/plots`, { recursive: true });
    if (!o.restore) {
      const { gpu: _g, log: _l, mpi: _m, ...saved } = o;
      await writeAtomic(`${o.out}/finetune.json`, JSON.stringify(saved, null, 2));
    }
  };
  // A task that builds its own samples (CWoLa) writes them into the run folder: claim it first.
  if (task.prepare) await claim();
  const data = await prepareData(task, o);
  // Data parallel: each rank builds only its share of every training and validation batch (the
  // test set is evaluated whole on every rank; rank 0 writes it).
  const share = o.mpi && o.mpi.size > 1 ? { rank: o.mpi.rank, ranks: o.mpi.size } : undefined;
  const loader = (files: readonly string[], part: "train" | "val" | "test") =>
    dataLoader(files, part, bb.info, s, data, maxJets[part], part === "test" ? undefined : share);
  const maxJets = {
    train: data.nTrain,
    val: o.maxValJets ?? o.maxEvalJets,
    test: o.maxTestJets ?? o.maxEvalJets,
  };
  const trainLoader = loader(data.train, "train");
  s = withSchedule(o, s, task.name, trainLoader.length);
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
  if (!o.restore) await recordSchedule(o, s, trainLoader.length, log);
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
      // Seeded per jet: a data-parallel share drops what the whole batch would.
      dropout: train
        ? { p: 0.2, seed: s.seed, step, jets: { first: b.streamIndex, count: B } }
        : undefined,
      step,
      seed: s.seed,
    });
  };
  const dp = await startDataParallel(o.mpi, store, s.batch);
  const fit = await trainHead(
    gpu,
    s,
    store,
    forward,
    trainLoader,
    () => loader(data.val, "val"),
    log,
    dp,
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

/** Writes `schedule.json` (what the run follows) and says it in one line. */
async function recordSchedule(
  o: FinetuneOptions,
  s: Settings,
  jets: number,
  log: (line: string) => void,
): Promise<void> {
  const { skipBadJets: _s, truncate: _t, classes: _c, ...schedule } = s;
  await writeAtomic(`${o.out}/schedule.json`, JSON.stringify(schedule, null, 2));
  log(
    `schedule (${o.protocol ?? "budget"} protocol, ${
      backboneMode(o)
    }, ${jets} jets): ${s.steps} steps, lr ${s.lr}, warm-up ${s.warmup}` +
      (s.frozen ? "" : `, backbone from step ${s.unfreezeAt} over ${s.catchup}`) +
      `, validation every ${s.valEvery}` +
      (s.keepBest ? `, patience ${s.patience}` : ", last weights kept"),
  );
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
  share?: { rank: number; ranks: number },
): JetLoader {
  const train = part === "train";
  return new JetLoader({
    share,
    files,
    batchSize: s.batch,
    seed: s.seed,
    onBadJet: s.skipBadJets ? "skip" : "error",
    classes: s.classes,
    shuffle: train,
    loop: train,
    dropLast: train,
    maxJets,
    split: splitPart(data, part),
    features: info.features,
    maxParticles: info.maxParticles,
    truncate: s.truncate,
    preprocessor: info.preprocessor,
  });
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
