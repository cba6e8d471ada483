// `deno task evaluate`: re-evaluate a fine-tuning run on a test file, or run the
// data-efficiency study (--sweep: metric vs labelled jets).
import { parse, runCli, UsageError } from "./_cli.ts";
import { PROTOCOL_PRESETS, type ProtocolPreset } from "../src/train/downstream/protocol.ts";
import type { CommandSpec } from "./_flags.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import { DOWNSTREAM_TASKS } from "../src/train/downstream/registry.ts";
import { evaluateRun } from "../src/train/finetune.ts";
import { sweep } from "../src/train/sweep.ts";
import { checkRunDir } from "../src/train/rundir.ts";
import { checkPath } from "./_flags.ts";

export const SPEC = {
  name: "deno task evaluate",
  summary: `Two modes.
  --run DIR --test FILE  re-evaluates a finished \`deno task finetune\` run (its finetune.json and
                         head.safetensors) on other test files: metrics.json, plots/*.svg and
                         predictions.h5 in --out (default DIR/eval).
  --sweep                trains the task for every (backbone, size, seed), plus a randomly
                         initialised backbone of the same shape as the baseline, and writes
                         sweep.csv, sweep_summary.csv (mean and standard deviation) and sweep.svg
                         (the metric against the number of labelled jets).`,
  flags: {
    run: { type: "path", must: "exist", help: "a fine-tuning run to re-evaluate", meta: "DIR" },
    sweep: { type: "bool", help: "run the data-efficiency study" },
    task: {
      type: "string",
      choices: DOWNSTREAM_TASKS.map((t) => t.name),
      default: "classify",
      help: "--sweep: downstream task",
    },
    train: {
      type: "path",
      multiple: true,
      must: "file",
      help: "--sweep: training files",
      meta: "FILE...",
    },
    val: {
      type: "path",
      multiple: true,
      must: "file",
      help: "--sweep: validation files",
      meta: "FILE...",
    },
    test: { type: "path", multiple: true, must: "file", help: "test files", meta: "FILE..." },
    backbone: {
      type: "string",
      multiple: true,
      help: "--sweep: LABEL=FILE (repeatable; default mpm=run/backbone.safetensors)",
      meta: "LABEL=FILE",
    },
    sizes: {
      type: "list",
      of: "int",
      min: 1,
      default: [100, 300, 1000],
      help: "--sweep: labelled training jets",
    },
    seeds: {
      type: "list",
      of: "int",
      min: 0,
      default: [0, 1, 2],
      help: "--sweep: seeds per point",
    },
    steps: { type: "int", min: 1, default: 300, help: "--sweep: optimiser steps per run" },
    batch: { type: "int", min: 1, default: 64, help: "--sweep: jets per batch" },
    lr: { type: "number", above: 0, max: 1, default: 1e-3, help: "--sweep: head learning rate" },
    finetune: { type: "bool", help: "--sweep: fine-tune the backbones" },
    "max-eval-jets": {
      type: "int",
      min: 1,
      default: 2000,
      help: "--sweep: cap on validation and test jets",
    },
    protocol: {
      type: "string",
      choices: PROTOCOL_PRESETS,
      default: "budget",
      help: "--sweep: schedule rules (budget: the reference's scaled to --steps; reference)",
    },
    warmup: { type: "int", min: 0, help: "--sweep: warm-up steps (default 5 % of the steps)" },
    "unfreeze-at": {
      type: "int",
      min: 0,
      help: "--sweep --finetune: step at which the backbones unfreeze (default by size)",
    },
    catchup: { type: "int", min: 1, help: "--sweep --finetune: steps of the learning-rate ramp" },
    "val-every": { type: "int", min: 1, help: "--sweep: steps between validations (default 50)" },
    patience: {
      type: "int",
      min: 1,
      help: "--sweep: validations without improvement (default by size)",
    },
    out: {
      type: "path",
      help: "output folder (default: DIR/eval for --run, sweep for --sweep)",
      meta: "DIR",
    },
    overwrite: { type: "bool", help: "replace what is already in --out" },
    "skip-bad-jets": { type: "bool", help: "skip and count bad jets instead of stopping" },
  },
} satisfies CommandSpec;

if (import.meta.main) {
  await runCli(async () => {
    const { values: v } = parse(Deno.args, SPEC);
    if (v.run && v.sweep) throw new UsageError("--run and --sweep exclude each other");
    if (v.run) {
      if (!v.test) throw new UsageError("--run DIR needs --test FILE");
      checkPath("--run", `${v.run}/finetune.json`, "file");
      const out = v.out ?? `${v.run}/eval`;
      await checkRunDir(out, { kind: "evaluate", overwrite: v.overwrite });
      const gpu = await requestGpu();
      const m = await evaluateRun(gpu, v.run, v.test, out, {
        overwrite: v.overwrite,
        command: ["evaluate", ...Deno.args],
      });
      console.log(`metrics (${out}/metrics.json):`);
      for (const [k, x] of Object.entries(m)) {
        console.log(`  ${k}: ${Number.isFinite(x) ? Number(x.toPrecision(4)) : x}`);
      }
      gpu.destroy();
      return;
    }
    if (!v.sweep) throw new UsageError("use --sweep or --run DIR");
    if (!v.train) throw new UsageError("--sweep needs --train FILE");
    const backbones = Object.fromEntries(
      (v.backbone ?? ["mpm=run/backbone.safetensors"]).map((b) => {
        const [label, path] = b.includes("=") ? b.split("=") : ["mpm", b];
        if (!label) throw new UsageError(`--backbone ${b}: expected LABEL=FILE`);
        checkPath(`--backbone ${label}=`, path, "file");
        return [label, path];
      }),
    );
    const out = v.out ?? "sweep";
    await checkRunDir(out, { kind: "sweep", overwrite: v.overwrite });
    const gpu = await requestGpu();
    await sweep(gpu, {
      task: v.task,
      backbones,
      sizes: v.sizes,
      seeds: v.seeds,
      train: v.train,
      val: v.val,
      test: v.test,
      steps: v.steps,
      batch: v.batch,
      lr: v.lr,
      frozen: !v.finetune,
      protocol: v.protocol as ProtocolPreset,
      warmup: v.warmup,
      unfreezeAt: v["unfreeze-at"],
      catchup: v.catchup,
      maxEvalJets: v["max-eval-jets"],
      valEvery: v["val-every"],
      patience: v.patience,
      out,
      overwrite: v.overwrite,
      skipBadJets: v["skip-bad-jets"],
    });
    console.log(`wrote ${out}/sweep.csv, sweep_summary.csv, sweep.svg`);
    gpu.destroy();
  }, "deno task evaluate --help");
}
