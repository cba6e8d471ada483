// `deno task finetune`: train and evaluate a head on a backbone for a downstream task.
import { parseFlags, runCli } from "./_cli.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import { finetune } from "../src/train/finetune.ts";
import { DOWNSTREAM_TASKS, downstreamTask } from "../src/train/downstream/registry.ts";

const HELP = `
deno task finetune --task ${DOWNSTREAM_TASKS.map((t) => t.name).join("|")} --backbone FILE|random
                   --train FILE --val FILE --test FILE [--n-train N] [--frozen | --finetune]
                   [--steps N] [--batch B] [--lr LR] [--unfreeze-at U] [--catchup C]
                   [--val-every N] [--patience P] [--like FILE] [--signal S] [--background B]
                   [--seed S] [--out DIR]

Trains a head (class attention for classify/cwola/btag, a twin network for vertex, a per-track
MLP for trackid) on the backbone's outputs. The backbone is frozen, or with --finetune unfrozen
at step U with its learning rate ramped to the head's over C steps. Early stopping on the
validation loss keeps the best weights. Writes DIR/metrics.json (accuracy and per-class auc;
sic and auc for cwola; ari and ari_standard by number of vertices; balanced_accuracy by number
of tracks), DIR/plots/*.svg, DIR/head.safetensors, DIR/train.csv. --backbone random trains the
same head on a randomly initialised backbone of the same shape (--like FILE) as the baseline.
`;

if (import.meta.main) {
  await runCli(async () => {
    const { values } = parseFlags(Deno.args, {
      task: { type: "string" },
      backbone: { type: "string", default: "run/backbone.safetensors" },
      like: { type: "string" },
      train: { type: "string", multiple: true },
      val: { type: "string", multiple: true },
      test: { type: "string", multiple: true },
      "n-train": { type: "string" },
      frozen: { type: "boolean" },
      finetune: { type: "boolean" },
      steps: { type: "string", default: "1000" },
      batch: { type: "string", default: "64" },
      lr: { type: "string" },
      "unfreeze-at": { type: "string", default: "100" },
      catchup: { type: "string", default: "100" },
      "val-every": { type: "string", default: "50" },
      patience: { type: "string", default: "5" },
      signal: { type: "string", default: "2" },
      background: { type: "string", default: "0" },
      seed: { type: "string", default: "0" },
      out: { type: "string", default: "finetune" },
    }, HELP);
    downstreamTask(String(values.task ?? ""));
    const train = values.train as string[] | undefined;
    if (!train) throw new Error("--train FILE is required (and --val, --test; see --help)");
    const gpu = await requestGpu();
    const m = await finetune({
      gpu,
      task: values.task as string,
      backbone: values.backbone as string,
      like: values.like as string | undefined,
      train,
      val: values.val as string[] | undefined,
      test: values.test as string[] | undefined,
      nTrain: values["n-train"] ? Number(values["n-train"]) : undefined,
      frozen: !values.finetune,
      steps: Number(values.steps),
      batch: Number(values.batch),
      lr: values.lr ? Number(values.lr) : undefined,
      unfreezeAt: Number(values["unfreeze-at"]),
      catchup: Number(values.catchup),
      valEvery: Number(values["val-every"]),
      patience: Number(values.patience),
      seed: Number(values.seed),
      cwola: { signal: Number(values.signal), background: Number(values.background) },
      out: values.out as string,
    });
    console.log(`metrics (${values.out}/metrics.json):`);
    for (const [k, v] of Object.entries(m)) {
      console.log(`  ${k}: ${Number.isFinite(v) ? Number(v.toPrecision(4)) : v}`);
    }
    gpu.destroy();
  });
}
