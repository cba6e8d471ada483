// `deno task finetune`: train and evaluate a head on a backbone for a downstream task.
import { inScratch, parse, rankScratch, runCli, UsageError, warn } from "./_cli.ts";
import type { CommandSpec } from "./_flags.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import { DOWNSTREAM_TASKS } from "../src/train/downstream/registry.ts";
import { finetune } from "../src/train/finetune.ts";
import { PROTOCOL_PRESETS, type ProtocolPreset } from "../src/train/downstream/protocol.ts";
import { checkRunDir } from "../src/train/rundir.ts";
import { checkPath } from "./_flags.ts";
import { Mpi } from "../src/io/mpi.ts";

export const SPEC = {
  name: "deno task finetune",
  summary: `Trains a head on a backbone's outputs for a downstream task and evaluates it:
${DOWNSTREAM_TASKS.map((t) => `  ${t.name.padEnd(9)}${t.summary}`).join("\n")}
The backbone is frozen, or with --finetune unfrozen at step --unfreeze-at with its learning rate
ramped to the head's over --catchup steps; --backbone random --finetune is the paper's from-scratch
baseline. The schedule follows the reference's rules for the task and the number of labelled jets
(warm-up, unfreeze step, patience; CWoLa a fixed 10 epochs keeping the last weights), scaled to
--steps (--protocol reference: the paper's literal 200k/100k-step schedule); every flag overrides
its rule and DIR/schedule.json records what ran. Early stopping on the validation loss keeps the
best weights. Without --val and --test the training files are split 80/10/10.`,
  flags: {
    task: {
      type: "string",
      choices: DOWNSTREAM_TASKS.map((t) => t.name),
      default: "classify",
      help: "downstream task",
    },
    backbone: {
      type: "string",
      default: "run/backbone.safetensors",
      help: "backbone.safetensors, or random for the baseline",
      meta: "FILE|random",
    },
    like: {
      type: "path",
      must: "file",
      help: "with --backbone random: the backbone whose shape to copy",
      meta: "FILE",
    },
    train: {
      type: "path",
      multiple: true,
      must: "file",
      help: "training files (HDF5)",
      meta: "FILE...",
    },
    val: {
      type: "path",
      multiple: true,
      must: "file",
      help: "validation files (default: the 10 % val split)",
      meta: "FILE...",
    },
    test: {
      type: "path",
      multiple: true,
      must: "file",
      help: "test files (default: the 10 % test split)",
      meta: "FILE...",
    },
    "n-train": { type: "int", min: 1, help: "labelled training jets (CWoLa: signal jets)" },
    frozen: { type: "bool", help: "keep the backbone frozen (the default)" },
    finetune: { type: "bool", help: "unfreeze the backbone at --unfreeze-at" },
    protocol: {
      type: "string",
      choices: PROTOCOL_PRESETS,
      default: "budget",
      help: "schedule rules: budget (the reference's, scaled to --steps) or reference (literal)",
    },
    steps: {
      type: "int",
      min: 1,
      help: "optimiser steps, an upper bound with early stopping (default 1000; cwola 10 epochs)",
    },
    batch: { type: "int", min: 1, default: 64, help: "jets per batch" },
    lr: {
      type: "number",
      above: 0,
      max: 1,
      help: "head learning rate (default 1e-4; from scratch 1e-3)",
    },
    warmup: { type: "int", min: 0, help: "warm-up steps (default 5 % of the steps)" },
    "unfreeze-at": {
      type: "int",
      min: 0,
      help: "--finetune: step at which the backbone unfreezes (default by protocol and size)",
    },
    catchup: {
      type: "int",
      min: 0,
      help: "--finetune: steps of the backbone's learning-rate ramp (default by protocol)",
    },
    "val-every": {
      type: "int",
      min: 1,
      help: "steps between validations (default 50; cwola: at the end)",
    },
    patience: {
      type: "int",
      min: 1,
      help: "validations without improvement before stopping (default by size: 5, 10 or 25)",
    },
    "max-eval-jets": { type: "int", min: 1, help: "cap on validation and test jets" },
    "max-val-jets": { type: "int", min: 1, help: "cap on validation jets alone" },
    "max-test-jets": { type: "int", min: 1, help: "cap on test jets alone" },
    classes: {
      type: "int",
      min: 2,
      help: "jet classes (default: from every training file's labels)",
    },
    signal: { type: "int", min: 0, default: 2, help: "cwola: signal class" },
    background: { type: "int", min: 0, default: 0, help: "cwola: background class" },
    "n-background": { type: "int", min: 2, help: "cwola: background jets per sample" },
    precision: {
      type: "string",
      choices: ["f32", "f16"],
      help:
        "matmul operands of the linear layers: f32, or f16 (mixed precision: f32 accumulation and master weights; needs shader-f16); default MPM_PRECISION or f32",
    },
    seed: {
      type: "int",
      min: 0,
      default: 0,
      help: "seed (data order, head initialisation, dropout)",
    },
    out: {
      type: "path",
      default: "finetune",
      help: "output folder (refused if it holds another run)",
      meta: "DIR",
    },
    overwrite: { type: "bool", help: "replace the run already in --out" },
    distributed: {
      type: "bool",
      help:
        "data-parallel over MPI (mpiexec -n R deno task finetune ...): each rank trains on 1/R of every batch",
    },
    "skip-bad-jets": { type: "bool", help: "skip and count bad jets instead of stopping" },
    truncate: {
      type: "bool",
      help: "keep the hardest particles of jets longer than the backbone allows",
    },
  },
  notes: `Writes DIR/metrics.json (accuracy and per-class auc; sic and auc for cwola; ari and
ari_standard by number of vertices; balanced_accuracy by number of tracks), DIR/plots/*.svg,
DIR/head.safetensors, DIR/train.csv, DIR/predictions.h5 and DIR/run.json.
Next: deno task evaluate --run DIR --test FILE, or a data-efficiency study with
deno task evaluate --sweep.`,
} satisfies CommandSpec;

if (import.meta.main) {
  await runCli(async () => {
    const { values: v, given } = parse(Deno.args, SPEC);
    const train = v.train;
    if (!train) throw new UsageError("--train FILE is required");
    if (v.frozen && v.finetune) throw new UsageError("--frozen and --finetune exclude each other");
    if (v.backbone !== "random") checkPath("--backbone", v.backbone, "file");
    if (v.like && v.backbone !== "random") {
      warn("--like has no effect with a pre-trained --backbone");
    }
    if (!v.finetune) {
      for (const f of ["unfreeze-at", "catchup"]) {
        if (given.has(f)) {
          warn(`--${f} has no effect without --finetune (the backbone stays frozen)`);
        }
      }
    } else if (
      v["unfreeze-at"] !== undefined && v.task !== "cwola" && (v.steps ?? 1000) <= v["unfreeze-at"]
    ) {
      warn(
        `--finetune with --steps ${v.steps ?? 1000} <= --unfreeze-at ${
          v["unfreeze-at"]
        }: the backbone never unfreezes`,
      );
    }
    if (v.task !== "cwola") {
      for (const f of ["signal", "background", "n-background"]) {
        if (given.has(f)) warn(`--${f} has no effect on --task ${v.task}`);
      }
    }
    const mpi = v.distributed ? Mpi.init() : undefined;
    const rank = mpi?.rank ?? 0;
    if (mpi && v.batch % mpi.size !== 0) {
      throw new UsageError(
        `--batch ${v.batch} does not split over ${mpi.size} ranks; use a multiple of ${mpi.size}`,
      );
    }
    // Rank 0 alone writes the run; the other ranks work in a scratch folder removed at the end.
    const out = rank === 0 ? v.out : await rankScratch(rank, v.out);
    if (rank === 0) await checkRunDir(v.out, { kind: "finetune", overwrite: v.overwrite });
    const gpu = await requestGpu({ precision: v.precision as "f32" | "f16" | undefined });
    const m = await inScratch(rank, out, v.out, () =>
      finetune({
        gpu,
        task: v.task,
        backbone: v.backbone,
        like: v.like,
        train,
        val: v.val,
        test: v.test,
        nTrain: v["n-train"],
        frozen: !v.finetune,
        protocol: v.protocol as ProtocolPreset,
        steps: v.steps,
        batch: v.batch,
        lr: v.lr,
        warmup: v.warmup,
        unfreezeAt: v["unfreeze-at"],
        catchup: v.catchup,
        valEvery: v["val-every"],
        patience: v.patience,
        maxEvalJets: v["max-eval-jets"],
        maxValJets: v["max-val-jets"],
        maxTestJets: v["max-test-jets"],
        classes: v.classes,
        seed: v.seed,
        cwola: { signal: v.signal, background: v.background, nBackground: v["n-background"] },
        out,
        overwrite: v.overwrite,
        skipBadJets: v["skip-bad-jets"],
        truncate: v.truncate,
        command: ["finetune", ...Deno.args],
        mpi,
        log: rank === 0 ? undefined : () => {},
      }));
    if (mpi) {
      if (rank !== 0) await Deno.remove(out, { recursive: true });
      mpi.finalize();
      if (rank !== 0) return gpu.destroy();
    }
    console.log(`metrics (${v.out}/metrics.json):`);
    for (const [k, x] of Object.entries(m)) {
      console.log(`  ${k}: ${Number.isFinite(x) ? Number(x.toPrecision(4)) : x}`);
    }
    console.log(`next: deno task evaluate --run ${v.out} --test FILE`);
    gpu.destroy();
  }, "deno task finetune --help");
}
