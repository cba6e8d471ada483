// `deno task vqvae`: train the VQ-VAE particle tokenizer whose codes the vqvae pre-training
// task predicts.
import { parse, runCli } from "./_cli.ts";
import type { CommandSpec } from "./_flags.ts";
import { CACHE_FLAG, defaultData } from "./_synth.ts";
import { JetFileReader } from "../src/data/hdf5.ts";
import { loadPreprocessor, QuantileTransform } from "../src/data/preprocess.ts";
import { sampleJets } from "../src/data/sample.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import { tokenizerPreset } from "../src/mpm/vqvae.ts";
import { trainTokenizer } from "../src/train/vqvae.ts";
import { checkRunDir } from "../src/train/rundir.ts";

export const SPEC = {
  name: "deno task vqvae",
  summary:
    `Trains the VQ-VAE tokenizer (transformer encoder, cosine codebook of 512 x 32 codes with EMA
updates and dead-code replacement, transformer decoder; Huber + 10 x commitment loss) on the
real particles of the training split. Without --data it uses the synthetic default data of
\`deno task pretrain\`; the preprocessing is fitted as there, so the tokenizer plugs into
  deno task pretrain --tasks id,vqvae,probe --tokenizer DIR/tokenizer.safetensors`,
  flags: {
    "cache-dir": CACHE_FLAG,
    data: { type: "path", multiple: true, must: "file", help: "jet files (HDF5)", meta: "FILE..." },
    preset: {
      type: "string",
      choices: ["small", "paper"],
      default: "small",
      help: "tokenizer size",
    },
    steps: { type: "int", min: 1, default: 300, help: "optimiser steps" },
    batch: { type: "int", min: 1, default: 64, help: "jets per batch" },
    lr: { type: "number", above: 0, max: 1, default: 1e-3, help: "peak learning rate" },
    seed: { type: "int", min: 0, default: 42, help: "seed" },
    out: {
      type: "path",
      default: "vqvae",
      help: "output folder (refused if it holds another run)",
      meta: "DIR",
    },
    overwrite: { type: "bool", help: "replace the run already in --out" },
    "skip-bad-jets": { type: "bool", help: "skip and count bad jets instead of stopping" },
    preprocessor: {
      type: "path",
      must: "file",
      help: "preprocessing JSON (default: fitted on a sample)",
      meta: "FILE.json",
    },
  },
  notes: `Writes DIR/tokenizer.safetensors (weights, codebook, preprocessing), DIR/vqvae.json
(validation: reconstruction error, perplexity, codebook usage), DIR/metrics.csv and
DIR/plots/train_loss.svg.`,
} satisfies CommandSpec;

if (import.meta.main) {
  await runCli(async () => {
    const { values: v } = parse(Deno.args, SPEC);
    await checkRunDir(v.out, { kind: "vqvae", overwrite: v.overwrite });
    const files = v.data ?? [await defaultData(v.seed, v["cache-dir"])];
    const config = tokenizerPreset(v.preset as "small" | "paper");
    const r = JetFileReader.open(files[0]);
    const missing = config.features.filter((f) => !r.info.features.includes(f));
    r.close();
    if (missing.length) {
      throw new Error(`${files[0]}: the tokenizer needs features [${missing}] that the file lacks`);
    }
    const pre = v.preprocessor
      ? await loadPreprocessor(v.preprocessor)
      : QuantileTransform.fit(sampleJets(files, 20000, v.seed));
    const gpu = await requestGpu();
    console.log(
      `adapter: ${gpu.adapterName}; VQ-VAE tokenizer (${v.preset}: dim ${config.dim}, ${config.layers} layers, ${config.codebookSize} x ${config.codeDim} codes), ${v.steps} steps of ${v.batch} jets`,
    );
    const rep = await trainTokenizer({
      gpu,
      config,
      train: {
        steps: v.steps,
        batch: v.batch,
        lr: v.lr,
        weightDecay: 1e-5,
        warmup: Math.min(100, Math.ceil(v.steps / 10)),
        seed: v.seed,
        logEvery: 10,
        valBatches: 8,
      },
      files,
      preprocessor: pre,
      out: v.out,
      overwrite: v.overwrite,
      skipBadJets: v["skip-bad-jets"],
    });
    console.log(`\nwrote ${v.out}/tokenizer.safetensors, ${v.out}/vqvae.json, ${v.out}/plots/`);
    console.log(
      `reconstruction (mean |error|, normalised units): ${
        Object.entries(rep.mae).map(([k, x]) => `${k} ${x.toFixed(3)}`).join(", ")
      }`,
    );
    console.log(
      `next: deno task pretrain --tasks id,vqvae,probe --tokenizer ${v.out}/tokenizer.safetensors`,
    );
    gpu.destroy();
  }, "deno task vqvae --help");
}
