// `deno task study`: the paper's comparison in one command. Pre-trains a backbone when asked
// (or reuses one), then fine-tunes each curve (pre-trained frozen, pre-trained fine-tuned, and
// the same network from scratch) at every labelled-set size and seed; resumable.
import { onInterrupt, parse, runCli, UsageError } from "./_cli.ts";
import { PROTOCOL_PRESETS, type ProtocolPreset } from "../src/train/downstream/protocol.ts";
import type { CommandSpec } from "./_flags.ts";
import { checkPath } from "./_flags.ts";
import { exists } from "../src/io/files.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import { DOWNSTREAM_TASKS } from "../src/train/downstream/registry.ts";
import { study, studyCurves } from "../src/train/study.ts";

export const SPEC = {
  name: "deno task study",
  summary: `Does pre-training pay off? Fine-tunes a downstream task for every curve, labelled-set
size and seed, and writes OUT/results.csv|json (one row per run: the test metric and the best
validation loss), OUT/summary.csv|json (mean and standard deviation of both per curve and size;
choose a configuration on the validation loss), OUT/paired.csv (each curve minus scratch, run for
run: mean, spread, paired t, pairs ahead) and OUT/study.svg (the metric against labelled jets with
error bars, as the paper's figure 4). Curves: each --backbone frozen and fine-tuned (--modes), and
"scratch": the same network randomly initialised and trained end to end from step 0.
With --pretrain-data, a backbone is first pre-trained into OUT/pretrain (or that run continued)
and used as "mpm". An interrupted study continues where it stopped when run again with the same
settings; finished runs are kept.`,
  flags: {
    task: {
      type: "string",
      choices: DOWNSTREAM_TASKS.map((t) => t.name),
      default: "classify",
      help: "downstream task",
    },
    train: {
      type: "path",
      multiple: true,
      must: "file",
      help: "labelled training files",
      meta: "FILE...",
    },
    val: {
      type: "path",
      multiple: true,
      must: "file",
      help: "validation files (default: the 10 % split)",
      meta: "FILE...",
    },
    test: {
      type: "path",
      multiple: true,
      must: "file",
      help: "test files (default: the 10 % split)",
      meta: "FILE...",
    },
    backbone: {
      type: "string",
      multiple: true,
      help: "a pre-trained backbone LABEL=FILE (repeatable)",
      meta: "LABEL=FILE",
    },
    "pretrain-data": {
      type: "path",
      multiple: true,
      must: "file",
      help: "pre-train the mpm backbone on these (unlabelled) files first",
      meta: "FILE...",
    },
    "pretrain-tasks": { type: "string", default: "id,reg", help: "tasks of that pre-training" },
    "pretrain-steps": { type: "int", min: 1, default: 600, help: "steps of that pre-training" },
    "pretrain-batch": { type: "int", min: 1, default: 64, help: "batch of that pre-training" },
    modes: {
      type: "string",
      default: "frozen,finetuned",
      help: "how the pre-trained backbones are used: frozen, finetuned (comma-separated)",
    },
    "no-scratch": { type: "bool", help: "leave out the from-scratch baseline" },
    sizes: {
      type: "list",
      of: "int",
      min: 1,
      default: [100, 300, 1000],
      help: "labelled training jets",
    },
    seeds: { type: "list", of: "int", min: 0, default: [0, 1, 2], help: "seeds per point" },
    protocol: {
      type: "string",
      choices: PROTOCOL_PRESETS,
      default: "budget",
      help: "schedule rules: budget (the reference's, scaled to --steps) or reference (literal)",
    },
    steps: { type: "int", min: 1, default: 500, help: "optimiser steps per run" },
    batch: { type: "int", min: 1, default: 64, help: "jets per batch" },
    lr: {
      type: "number",
      above: 0,
      max: 1,
      help: "head learning rate of every curve (default: the protocol's, 1e-4; scratch 1e-3)",
    },
    warmup: { type: "int", min: 0, help: "warm-up steps (default 5 % of the steps)" },
    "unfreeze-at": {
      type: "int",
      min: 0,
      help: "finetuned: step at which the backbone unfreezes (default by protocol and size)",
    },
    catchup: {
      type: "int",
      min: 1,
      help: "finetuned: steps of its learning-rate ramp (default by protocol)",
    },
    "val-every": { type: "int", min: 1, help: "steps between validations (default 50)" },
    patience: {
      type: "int",
      min: 1,
      help: "validations without improvement before stopping (default by size)",
    },
    "max-eval-jets": {
      type: "int",
      min: 1,
      default: 2000,
      help: "cap on validation and test jets",
    },
    "max-val-jets": { type: "int", min: 1, help: "cap on validation jets alone" },
    "max-test-jets": { type: "int", min: 1, help: "cap on test jets alone" },
    classes: { type: "int", min: 2, help: "jet classes (default: from every training file)" },
    out: { type: "path", default: "study", help: "output folder", meta: "DIR" },
    overwrite: { type: "bool", help: "start over in --out" },
    "skip-bad-jets": { type: "bool", help: "skip and count bad jets instead of stopping" },
  },
  notes: `Example (about an hour on a 2-core CPU):
  deno task data synth --jets 60000 --out unlabelled.h5 --seed 7
  deno task data synth --jets 20000 --out labelled.h5 --seed 8
  deno task study --pretrain-data unlabelled.h5 --train labelled.h5 --sizes 100,300,1000`,
} satisfies CommandSpec;

/** Runs `deno task pretrain` (continuing an unfinished run) and returns its backbone. */
async function pretrainBackbone(
  dir: string,
  data: string[],
  tasks: string,
  steps: number,
  batch: number,
): Promise<string> {
  const backbone = `${dir}/backbone.safetensors`;
  // Finished: its last checkpoint is at the run's last step.
  const read = async (f: string) =>
    JSON.parse(await Deno.readTextFile(`${dir}/${f}`).catch(() => "{}"));
  const [ckpt, config] = [await read("checkpoint.json"), await read("config.json")];
  const complete = await exists(backbone) && ckpt.step > 0 && ckpt.step >= config.train?.steps;
  if (complete) {
    console.log(`reusing the pre-trained backbone ${backbone}`);
    return backbone;
  }
  const resume = await exists(`${dir}/checkpoint.json`);
  const args = resume ? ["--resume", dir] : [
    "--data",
    ...data,
    "--tasks",
    tasks,
    "--steps",
    String(steps),
    "--batch",
    String(batch),
    "--out",
    dir,
  ];
  console.log(`deno task pretrain ${args.join(" ")}`);
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./pretrain.ts", import.meta.url).pathname, ...args],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!r.success) {
    throw new Error(`pre-training into ${dir} failed; run the study again to continue it`);
  }
  return backbone;
}

if (import.meta.main) {
  await runCli(async () => {
    const { values: v } = parse(Deno.args, SPEC);
    if (!v.train) throw new UsageError("--train FILE is required (labelled jets)");
    const modes = v.modes.split(",").map((m) => m.trim()).filter(Boolean);
    for (const m of modes) {
      if (m !== "frozen" && m !== "finetuned") {
        throw new UsageError(`--modes ${v.modes}: "${m}" is not frozen or finetuned`);
      }
    }
    const backbones: Record<string, string> = {};
    for (const b of v.backbone ?? []) {
      const [label, path] = b.includes("=") ? b.split("=") : ["mpm", b];
      if (!label || !path) throw new UsageError(`--backbone ${b}: expected LABEL=FILE`);
      if (label === "scratch") {
        throw new UsageError(`--backbone ${b}: "scratch" names the baseline`);
      }
      checkPath(`--backbone ${label}=`, path, "file");
      backbones[label] = path;
    }
    if (v["pretrain-data"]) {
      backbones.mpm = await pretrainBackbone(
        `${v.out}/pretrain`,
        v["pretrain-data"],
        v["pretrain-tasks"],
        v["pretrain-steps"],
        v["pretrain-batch"],
      );
    }
    if (!Object.keys(backbones).length) {
      throw new UsageError("give a pre-trained --backbone LABEL=FILE or --pretrain-data FILE");
    }
    const curves = studyCurves({
      backbones,
      modes: modes as ("frozen" | "finetuned")[],
      scratch: !v["no-scratch"],
    });
    console.log(
      `study: ${v.task}, curves [${
        curves.map((c) => c.name)
      }], sizes [${v.sizes}], seeds [${v.seeds}], ` +
        `${curves.length * v.sizes.length * v.seeds.length} runs of ${v.steps} steps -> ${v.out}/`,
    );
    onInterrupt(() => `finished runs are kept in ${v.out}/runs; run the same command to continue`);
    const gpu = await requestGpu();
    await study(gpu, {
      task: v.task,
      backbones,
      modes: modes as ("frozen" | "finetuned")[],
      scratch: !v["no-scratch"],
      sizes: v.sizes,
      seeds: v.seeds,
      train: v.train,
      val: v.val,
      test: v.test,
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
      skipBadJets: v["skip-bad-jets"],
      out: v.out,
      overwrite: v.overwrite,
    });
    console.log(
      `wrote ${v.out}/results.csv, summary.csv, summary.json, ${
        v["no-scratch"] ? "" : "paired.csv, "
      }and study.svg`,
    );
    console.log(
      `next: look at ${v.out}/study.svg; the README's "Does pre-training help?" shows one`,
    );
    gpu.destroy();
  }, "deno task study --help");
}
