// The pre-training commands end to end on a tiny file: pretrain, resume, embed, kmeans, probe.
import { writeJetFile } from "../../src/data/hdf5.ts";
import { synthJetClass } from "../../src/data/synth.ts";
import { runTask } from "../_helpers/mod.ts";

const tmp = await Deno.makeTempDir({ prefix: "mpm-pt-cli-" });
writeJetFile(`${tmp}/jets.h5`, synthJetClass(400, { seed: 1 }));

function run(name: string, ...args: string[]) {
  return runTask(name, tmp, ...args);
}

Deno.test("pretrain, resume, embed, kmeans and probe commands run and write their files", async () => {
  let r = await run(
    "pretrain",
    "--data",
    "jets.h5",
    "--steps",
    "3",
    "--batch",
    "8",
    "--out",
    "run",
    "--tasks",
    "id,reg,probe",
  );
  if (r.code !== 0) throw new Error(r.err);
  for (
    const f of [
      "config.json",
      "model.safetensors",
      "optim.safetensors",
      "state.json",
      "backbone.safetensors",
      "preprocessor.json",
      "metrics.csv",
      "plots/train_loss.svg",
    ]
  ) {
    await Deno.stat(`${tmp}/run/${f}`);
  }
  if (!r.out.includes("backbone") || !r.out.includes("run/backbone.safetensors")) {
    throw new Error("pretrain must print where things went");
  }
  // Extend the run and resume it.
  const cfg = JSON.parse(await Deno.readTextFile(`${tmp}/run/config.json`));
  cfg.train.steps = 5;
  await Deno.writeTextFile(`${tmp}/run/config.json`, JSON.stringify(cfg));
  r = await run("pretrain", "--data", "jets.h5", "--resume", "run");
  if (
    r.code !== 0 || !r.out.includes("resumed") ||
    JSON.parse(await Deno.readTextFile(`${tmp}/run/state.json`)).step !== 5
  ) throw new Error(r.out + r.err);
  r = await run(
    "embed",
    "--backbone",
    "run/backbone.safetensors",
    "--data",
    "jets.h5",
    "--jets",
    "30",
    "--out",
    "emb.h5",
  );
  if (r.code !== 0) throw new Error(r.err);
  await Deno.stat(`${tmp}/emb.h5`);
  r = await run(
    "kmeans",
    "--data",
    "jets.h5",
    "--k",
    "8",
    "--jets",
    "40",
    "--iters",
    "5",
    "--out",
    "cb.json",
  );
  if (r.code !== 0 || JSON.parse(await Deno.readTextFile(`${tmp}/cb.json`)).k !== 8) {
    throw new Error(r.err);
  }
  r = await run(
    "probe",
    "--backbone",
    "run/backbone.safetensors",
    "--data",
    "jets.h5",
    "--train-jets",
    "40",
    "--test-jets",
    "30",
    "--seeds",
    "0",
  );
  if (r.code !== 0 || !r.out.includes("pre-trained backbone")) throw new Error(r.err);
});

Deno.test("pretrain CLI rejects unknown flags, tasks and presets with one-line messages", async () => {
  let r = await run("pretrain", "--stepz", "3");
  if (r.code !== 2 || !r.err.includes("--stepz")) throw new Error(r.err);
  r = await run("pretrain", "--data", "jets.h5", "--tasks", "id,magic", "--out", "x");
  if (r.code !== 1 || !r.err.includes(`unknown task "magic"`) || r.err.includes("    at ")) {
    throw new Error(r.err);
  }
  r = await run("pretrain", "--data", "jets.h5", "--tasks", "id,kmeans", "--out", "x");
  if (r.code !== 1 || !r.err.includes("--kmeans CODEBOOK.json")) throw new Error(r.err);
  r = await run("pretrain", "--preset", "huge");
  if (r.code !== 1 || !r.err.includes("--preset")) throw new Error(r.err);
  r = await run("pretrain", "--data", "missing.h5");
  if (r.code !== 1 || !r.err.includes("missing.h5")) throw new Error(r.err);
  r = await run("pretrain", "--help");
  if (r.code !== 0 || !r.out.includes("--resume")) throw new Error("help");
});
