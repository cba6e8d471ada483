// `deno task evaluate`: re-evaluate a fine-tuning run on a test file, or run the
// data-efficiency study (--sweep: metric vs labelled jets).
import { parseFlags, runCli } from "./_cli.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import { evaluateRun } from "../src/train/finetune.ts";
import { sweep } from "../src/train/sweep.ts";

const HELP = `
deno task evaluate --sweep --task classify|cwola|btag|vertex|trackid --train FILE [--val FILE]
                   [--test FILE] --backbone LABEL=FILE [--backbone LABEL=FILE ...]
                   [--sizes 100,300,1000] [--seeds 0,1,2] [--steps N] [--batch B] [--lr LR]
                   [--finetune] [--max-eval-jets N] [--out DIR]

Trains the task for every (backbone, size, seed), plus a randomly initialised backbone of the
same shape as the baseline, and writes DIR/sweep.csv, DIR/sweep_summary.csv (mean and standard
deviation) and DIR/sweep.svg (the metric against the number of labelled jets), with each run's
metrics.json in its own folder.

deno task evaluate --run DIR --test FILE [--out DIR]

Re-evaluates a finished \`deno task finetune\` run (its finetune.json and head.safetensors) on
another test file: writes metrics.json, plots/*.svg and predictions.h5 into --out (default
DIR/eval).
`;

if (import.meta.main) {
  await runCli(async () => {
    const { values } = parseFlags(Deno.args, {
      sweep: { type: "boolean" },
      run: { type: "string" },
      task: { type: "string", default: "classify" },
      train: { type: "string", multiple: true },
      val: { type: "string", multiple: true },
      test: { type: "string", multiple: true },
      backbone: { type: "string", multiple: true },
      sizes: { type: "string", default: "100,300,1000" },
      seeds: { type: "string", default: "0,1,2" },
      steps: { type: "string", default: "300" },
      batch: { type: "string", default: "64" },
      lr: { type: "string", default: "1e-3" },
      finetune: { type: "boolean" },
      "max-eval-jets": { type: "string", default: "2000" },
      "val-every": { type: "string", default: "50" },
      patience: { type: "string", default: "3" },
      seed: { type: "string" },
      out: { type: "string", default: "sweep" },
    }, HELP);
    if (values.run) {
      const test = values.test as string[] | undefined;
      if (!test) throw new Error("--run DIR needs --test FILE");
      const gpu = await requestGpu();
      const out = values.out === "sweep" ? `${values.run}/eval` : values.out as string;
      const m = await evaluateRun(gpu, values.run as string, test, out);
      console.log(`metrics (${out}/metrics.json):`);
      for (const [k, v] of Object.entries(m)) {
        console.log(`  ${k}: ${Number.isFinite(v) ? Number(v.toPrecision(4)) : v}`);
      }
      gpu.destroy();
      return;
    }
    if (!values.sweep) throw new Error("use --sweep or --run DIR (see --help)");
    const train = values.train as string[] | undefined;
    if (!train) throw new Error("--train FILE is required");
    const backbones = Object.fromEntries(
      ((values.backbone as string[] | undefined) ?? ["mpm=run/backbone.safetensors"]).map((b) => {
        const [label, path] = b.includes("=") ? b.split("=") : ["mpm", b];
        return [label, path];
      }),
    );
    const gpu = await requestGpu();
    await sweep(gpu, {
      task: values.task as string,
      backbones,
      sizes: (values.sizes as string).split(",").map(Number),
      seeds: (values.seeds as string).split(",").map(Number),
      train,
      val: values.val as string[] | undefined,
      test: values.test as string[] | undefined,
      steps: Number(values.steps),
      batch: Number(values.batch),
      lr: Number(values.lr),
      frozen: !values.finetune,
      maxEvalJets: Number(values["max-eval-jets"]),
      valEvery: Number(values["val-every"]),
      patience: Number(values.patience),
      out: values.out as string,
    });
    console.log(`wrote ${values.out}/sweep.csv, sweep_summary.csv, sweep.svg`);
    gpu.destroy();
  });
}
