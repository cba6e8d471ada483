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
import { pairedAgainstScratch, studySummary } from "../../src/train/study_tables.ts";

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
  if (rows[0] !== "curve,n,seed,accuracy,best_val_loss" || rows.length !== 7) {
    throw new Error(rows.join("\n"));
  }
  // Every run validated (val-every 2 of 4 steps), so each row has its validation loss.
  if (!rows.slice(1).every((l) => Number(l.split(",")[4]) > 0)) throw new Error(rows.join("\n"));
  const paired = (await Deno.readTextFile(`${tmp}/study/paired.csv`)).trim().split("\n");
  if (
    paired.length !== 3 || !paired[0].startsWith("curve,n,mean_accuracy_minus_scratch") ||
    !paired.slice(1).every((l) => /^mpm-(frozen|finetuned),40,/.test(l) && l.split(",")[5] === "2")
  ) throw new Error(paired.join("\n"));
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

Deno.test("study tables: means and spreads of metric and validation loss, and each curve paired with scratch run for run (only seeds both ran)", () => {
  const run = (curve: string, n: number, seed: number, value: number, loss?: number) => ({
    curve,
    n,
    seed,
    value,
    metrics: (loss === undefined ? {} : { best_val_loss: loss }) as Record<string, number>,
  });
  const rows = [
    run("scratch", 100, 0, 0.30, 1.0),
    run("scratch", 100, 1, 0.50, 0.8),
    run("mpm", 100, 0, 0.35, 0.9),
    run("mpm", 100, 1, 0.45, 0.7),
    run("mpm", 100, 2, 0.90), // no scratch run with seed 2: not paired
    run("scratch", 1000, 0, 0.60),
  ];
  const s = studySummary(rows);
  const at = (c: string, n: number) => s.find((x) => x.curve === c && x.n === n)!;
  // mpm at 100: values 0.35, 0.45, 0.90; validation losses 0.9, 0.7 (the third run has none).
  if (Math.abs(at("mpm", 100).mean - 1.7 / 3) > 1e-12 || at("mpm", 100).runs !== 3) {
    throw new Error(JSON.stringify(at("mpm", 100)));
  }
  if (Math.abs(at("mpm", 100).valLoss - 0.8) > 1e-12) throw new Error("validation mean");
  if (Math.abs(at("mpm", 100).valLossStd - Math.sqrt(0.02)) > 1e-12) throw new Error("val std");
  if (!Number.isNaN(at("scratch", 1000).valLoss) || at("scratch", 1000).std !== 0) {
    throw new Error(JSON.stringify(at("scratch", 1000)));
  }
  const p = pairedAgainstScratch(rows);
  // Differences +0.05 and -0.05: mean 0, spread sqrt(0.005), one pair ahead; no pair at 1000.
  if (p.length !== 1 || p[0].pairs !== 2 || p[0].ahead !== 1 || Math.abs(p[0].mean) > 1e-12) {
    throw new Error(JSON.stringify(p));
  }
  if (Math.abs(p[0].std - Math.sqrt(0.005)) > 1e-12 || Math.abs(p[0].t) > 1e-9) {
    throw new Error(JSON.stringify(p));
  }
  if (pairedAgainstScratch(rows.filter((r) => r.curve !== "scratch")).length !== 0) {
    throw new Error("paired rows without scratch");
  }
});
