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

Deno.test("pretrain CLI rejects unknown flags, tasks and presets with one-line messages (exit 2 for a bad command line)", async () => {
  let r = await run("pretrain", "--stepz", "3");
  if (r.code !== 2 || !r.err.includes("--stepz")) throw new Error(r.err);
  r = await run("pretrain", "--data", "jets.h5", "--tasks", "id,magic", "--out", "x");
  if (r.code !== 2 || !r.err.includes(`unknown "magic"`) || r.err.includes("    at ")) {
    throw new Error(r.err);
  }
  r = await run("pretrain", "--data", "jets.h5", "--tasks", "id,kmeans", "--out", "x");
  if (r.code !== 1 || !r.err.includes("--kmeans CODEBOOK.json")) throw new Error(r.err);
  r = await run("pretrain", "--data", "jets.h5", "--tasks", "id,vqvae", "--out", "x");
  if (r.code !== 1 || !r.err.includes("--tokenizer")) throw new Error(r.err);
  r = await run("pretrain", "--data", "jets.h5", "--tasks", "ssfm,reg", "--out", "x");
  if (r.code !== 1 || !r.err.includes("combines only with probe")) throw new Error(r.err);
  r = await run("pretrain", "--data", "jets.h5", "--tasks", "ssfm", "--drop-range", "0.5,0.2");
  if (r.code !== 2 || !r.err.includes("--drop-range")) throw new Error(r.err);
  r = await run("pretrain", "--data", "jets.h5", "--objective", "ssfm");
  if (r.code !== 2 || !r.err.includes("--tasks ssfm")) throw new Error(r.err);
  r = await run("pretrain", "--preset", "huge");
  if (r.code !== 2 || !r.err.includes("--preset")) throw new Error(r.err);
  r = await run("pretrain", "--data", "missing.h5");
  if (r.code !== 2 || !r.err.includes("missing.h5")) throw new Error(r.err);
  r = await run("pretrain", "--help");
  if (r.code !== 0 || !r.out.includes("--resume")) throw new Error("help");
});

Deno.test("vqvae, pretrain --tasks vqvae, pretrain --tasks ssfm, generate and finetune on their backbones run end to end; generate errors are clear", async () => {
  let r = await run(
    "vqvae",
    "--data",
    "jets.h5",
    "--steps",
    "3",
    "--batch",
    "16",
    "--out",
    "tok",
  );
  if (r.code !== 0 || !r.out.includes("perplexity")) throw new Error(r.err + r.out);
  await Deno.stat(`${tmp}/tok/tokenizer.safetensors`);
  r = await run(
    "pretrain",
    "--data",
    "jets.h5",
    "--steps",
    "2",
    "--batch",
    "8",
    "--out",
    "run-vq",
    "--tasks",
    "id,vqvae",
    "--tokenizer",
    "tok/tokenizer.safetensors",
  );
  if (r.code !== 0) throw new Error(r.err);
  r = await run(
    "pretrain",
    "--data",
    "jets.h5",
    "--steps",
    "2",
    "--batch",
    "8",
    "--out",
    "run-ssfm",
    "--tasks",
    "ssfm",
    "--drop-range",
    "0.2,0.6",
    "--sample-steps",
    "2",
  );
  if (r.code !== 0) throw new Error(r.err);
  const cfg = JSON.parse(await Deno.readTextFile(`${tmp}/run-ssfm/config.json`));
  if (cfg.objective !== "ssfm" || cfg.tasks.ssfm.maxDrop !== 0.6 || cfg.tasks.reg) {
    throw new Error(`config ${JSON.stringify(cfg.tasks)}`);
  }
  r = await run(
    "generate",
    "--run",
    "run-ssfm",
    "--data",
    "jets.h5",
    "--jets",
    "12",
    "--steps",
    "2",
    "--out",
    "gen.h5",
  );
  if (r.code !== 0 || !r.out.includes("jet observables")) throw new Error(r.err + r.out);
  const { JetFileReader } = await import("../../src/data/hdf5.ts");
  const g = JetFileReader.open(`${tmp}/gen.h5`);
  const block = g.read(0, g.info.n);
  g.close();
  if (block.n !== 12 || !block.ids || block.features.join() !== cfg.features.join()) {
    throw new Error("generated file layout");
  }
  // Particles in pT order, finite, at least one per jet.
  for (let j = 0; j < 12; j++) {
    let prev = Infinity, n = 0;
    for (let p = 0; p < block.nParticles; p++) {
      if (!block.valid[j * block.nParticles + p]) continue;
      const pt = block.csts[(j * block.nParticles + p) * 7];
      if (!(Number.isFinite(pt) && pt <= prev)) throw new Error(`jet ${j}: pT order`);
      prev = pt;
      n++;
    }
    if (!n) throw new Error(`jet ${j} is empty`);
  }
  const rep = JSON.parse(await Deno.readTextFile(`${tmp}/run-ssfm/generation/generation.json`));
  if (!(rep.jet.mass.model >= 0 && rep.jet.mass.baseline >= 0 && rep.jets_per_s > 0)) {
    throw new Error("report");
  }
  for (const k of ["w1m", "w1p_eta", "w1p_phi", "w1p_pt", "fpd", "kpd"]) {
    const v = rep.jetnet?.model?.[k];
    if (!(Number.isFinite(v?.value) && Number.isFinite(v?.error))) {
      throw new Error(`JetNet metric ${k}: ${JSON.stringify(v)}`);
    }
  }
  await Deno.stat(`${tmp}/run-ssfm/generation/generated_jet_mass.svg`);
  // Both generative-era backbones feed the downstream test bed.
  for (const bb of ["run-ssfm", "run-vq"]) {
    r = await run(
      "finetune",
      "--task",
      "classify",
      "--backbone",
      `${bb}/backbone.safetensors`,
      "--train",
      "jets.h5",
      "--val",
      "jets.h5",
      "--test",
      "jets.h5",
      "--n-train",
      "32",
      "--steps",
      "2",
      "--batch",
      "16",
      "--out",
      `ft-${bb}`,
    );
    if (r.code !== 0) throw new Error(`${bb}: ${r.err}`);
    await Deno.stat(`${tmp}/ft-${bb}/metrics.json`);
  }
  r = await run("generate", "--run", "run-vq");
  if (r.code !== 1 || !r.err.includes("--tasks ssfm")) throw new Error(r.err);
  r = await run("generate", "--run", "run-ssfm", "--multiplicity", "500", "--no-report");
  if (r.code !== 1 || !r.err.includes("particle limit")) throw new Error(r.err);
  r = await run("generate", "--run", "nowhere");
  if (r.code !== 2 || !r.err.includes("--run nowhere")) throw new Error(r.err);
  r = await run("generate");
  if (r.code !== 2 || !r.err.includes("--run DIR")) throw new Error(r.err);
});
