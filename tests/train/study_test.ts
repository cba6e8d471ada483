// deno task study at tiny scale: the curves (frozen, fine-tuned, scratch), the tables and the
// plot, resumption after an interruption (finished runs kept, the unfinished one redone), a
// changed setting refused, and the pre-training step (run once, then reused).
import { writeJetFile } from "../../src/data/hdf5.ts";
import { QuantileTransform } from "../../src/data/preprocess.ts";
import { synthJetClass } from "../../src/data/synth.ts";
import { JETCLASS_LABELS } from "../../src/data/types.ts";
import { requestGpu } from "../../src/gpu/gpu.ts";
import { Backbone } from "../../src/mpm/backbone.ts";
import { runTask, snapshot } from "../reliability/_battery.ts";

const tmp = await Deno.makeTempDir({ prefix: "mpm-study-" });
const jets = synthJetClass(400, { seed: 1 });
writeJetFile(`${tmp}/jets.h5`, jets, { classNames: JETCLASS_LABELS });
{
  const gpu = await requestGpu();
  const bb = Backbone.random(gpu, {
    encoder: { dim: 32, layers: 1, heads: 4, registers: 2 },
    features: [...jets.features],
    useIds: true,
    maxParticles: 128,
  }, 1);
  await bb.save(`${tmp}/bb.safetensors`, QuantileTransform.fit([jets]));
  gpu.destroy();
}
const settings: Record<string, string> = {
  train: "jets.h5",
  sizes: "40",
  seeds: "0,1",
  steps: "4",
  "val-every": "2",
  batch: "8",
  "max-eval-jets": "40",
  "unfreeze-at": "2",
  catchup: "2",
};
/** The study's flags, with some settings changed. */
const flags = (change: Record<string, string> = {}) =>
  Object.entries({ ...settings, ...change }).flatMap(([k, v]) => [`--${k}`, v]);
const base = flags();

Deno.test("study: frozen, fine-tuned and scratch curves with tables and a plot; resumes; refuses changed settings", async () => {
  let r = await runTask(tmp, "study", ["--backbone", "mpm=bb.safetensors", ...base]);
  if (r.code !== 0) throw new Error(r.err);
  const rows = (await Deno.readTextFile(`${tmp}/study/results.csv`)).trim().split("\n");
  if (rows[0] !== "curve,n,seed,accuracy" || rows.length !== 7) throw new Error(rows.join("\n"));
  const curves = new Set(rows.slice(1).map((l) => l.split(",")[0]));
  if ([...curves].sort().join() !== "mpm-finetuned,mpm-frozen,scratch") {
    throw new Error(`${[...curves]}`);
  }
  const summary = (await Deno.readTextFile(`${tmp}/study/summary.csv`)).trim().split("\n");
  if (summary.length !== 4 || !summary[1].endsWith(",2")) throw new Error(summary.join("\n"));
  const svg = await Deno.readTextFile(`${tmp}/study/study.svg`);
  for (const c of curves) if (!svg.includes(c)) throw new Error(`plot lacks ${c}`);
  // How each curve trains its backbone.
  const ft = async (name: string) =>
    JSON.parse(await Deno.readTextFile(`${tmp}/study/runs/${name}_n40_s0/finetune.json`));
  const [frozen, tuned, scratch] = [
    await ft("mpm-frozen"),
    await ft("mpm-finetuned"),
    await ft("scratch"),
  ];
  if (frozen.frozen !== true || tuned.frozen !== false || tuned.unfreezeAt !== 2) {
    throw new Error(`frozen ${JSON.stringify(frozen)} / finetuned ${JSON.stringify(tuned)}`);
  }
  if (scratch.backbone !== "random" || scratch.frozen !== false || scratch.unfreezeAt !== 0) {
    throw new Error(`scratch ${JSON.stringify(scratch)}`);
  }
  // Interrupted: one run lost its metrics. A rerun redoes only that run.
  await Deno.remove(`${tmp}/study/runs/scratch_n40_s1/metrics.json`);
  const keep = await Deno.readTextFile(`${tmp}/study/runs/mpm-frozen_n40_s1/metrics.json`);
  const keptTime = (await Deno.stat(`${tmp}/study/runs/mpm-frozen_n40_s1/metrics.json`)).mtime;
  r = await runTask(tmp, "study", ["--backbone", "mpm=bb.safetensors", ...base]);
  if (r.code !== 0 || !r.out.includes("continuing the study")) throw new Error(r.out + r.err);
  await Deno.stat(`${tmp}/study/runs/scratch_n40_s1/metrics.json`);
  const after = await Deno.stat(`${tmp}/study/runs/mpm-frozen_n40_s1/metrics.json`);
  if (after.mtime?.getTime() !== keptTime?.getTime()) throw new Error("a finished run was redone");
  if (keep !== await Deno.readTextFile(`${tmp}/study/runs/mpm-frozen_n40_s1/metrics.json`)) {
    throw new Error("a finished run changed");
  }
  // Other settings in the same folder are refused, nothing changed.
  const before = await snapshot(`${tmp}/study`);
  r = await runTask(tmp, "study", [
    "--backbone",
    "mpm=bb.safetensors",
    ...flags({ steps: "5" }),
  ]);
  if (r.code === 0 || !r.err.includes("other settings")) {
    throw new Error(`changed settings: ${r.err}`);
  }
  if ([...before].join() !== [...await snapshot(`${tmp}/study`)].join()) {
    throw new Error("folder changed");
  }
});

Deno.test("study --pretrain-data pre-trains once into OUT/pretrain and reuses it", async () => {
  const args = [
    "--pretrain-data",
    "jets.h5",
    "--pretrain-steps",
    "3",
    "--pretrain-batch",
    "8",
    "--modes",
    "frozen",
    "--no-scratch",
    ...flags({ seeds: "0" }),
    "--out",
    "study2",
  ];
  let r = await runTask(tmp, "study", args);
  if (r.code !== 0) throw new Error(r.err);
  await Deno.stat(`${tmp}/study2/pretrain/backbone.safetensors`);
  r = await runTask(tmp, "study", args);
  if (r.code !== 0 || !r.out.includes("reusing the pre-trained backbone")) {
    throw new Error(r.out + r.err);
  }
  await Deno.remove(tmp, { recursive: true });
});
