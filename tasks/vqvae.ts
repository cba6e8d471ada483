// `deno task vqvae`: train the VQ-VAE particle tokenizer whose codes the vqvae pre-training
// task predicts.
import { parseFlags, runCli } from "./_cli.ts";
import { defaultData } from "./_synth.ts";
import { JetFileReader } from "../src/data/hdf5.ts";
import { loadPreprocessor, QuantileTransform } from "../src/data/preprocess.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import { tokenizerPreset } from "../src/mpm/vqvae.ts";
import { trainTokenizer } from "../src/train/vqvae.ts";

const HELP = `
deno task vqvae [--data FILE...] [--preset small|paper] [--steps N] [--batch B] [--lr LR]
                [--seed S] [--out DIR] [--preprocessor FILE.json]

Trains the VQ-VAE tokenizer (transformer encoder, cosine codebook of 512 x 32 codes with EMA
updates and dead-code replacement, transformer decoder; Huber + 10 x commitment loss) on the
real particles of the training split, and writes DIR/tokenizer.safetensors (weights, codebook,
preprocessing), DIR/vqvae.json (validation: reconstruction error, perplexity, codebook usage),
DIR/metrics.csv and DIR/plots/train_loss.svg (DIR defaults to vqvae/).
Without --data it uses the synthetic default data of \`deno task pretrain\`; the preprocessing is
fitted as there, so the tokenizer plugs into
  deno task pretrain --tasks id,vqvae,probe --tokenizer DIR/tokenizer.safetensors
`;

if (import.meta.main) {
  await runCli(async () => {
    const { values } = parseFlags(Deno.args, {
      data: { type: "string", multiple: true },
      preset: { type: "string", default: "small" },
      steps: { type: "string", default: "300" },
      batch: { type: "string", default: "64" },
      lr: { type: "string", default: "1e-3" },
      seed: { type: "string", default: "42" },
      out: { type: "string", default: "vqvae" },
      preprocessor: { type: "string" },
    }, HELP);
    if (values.preset !== "small" && values.preset !== "paper") {
      throw new Error(`--preset must be small or paper, got ${values.preset}`);
    }
    const num = (k: string, min: number) => {
      const v = Number(values[k]);
      if (!(v >= min)) throw new Error(`--${k} must be a number >= ${min}, got "${values[k]}"`);
      return v;
    };
    const steps = num("steps", 1),
      batch = num("batch", 1),
      lr = num("lr", 0),
      seed = num("seed", 0);
    const files = (values.data as string[] | undefined) ?? [await defaultData(seed)];
    const config = tokenizerPreset(values.preset);
    const r = JetFileReader.open(files[0]);
    const missing = config.features.filter((f) => !r.info.features.includes(f));
    if (missing.length) {
      r.close();
      throw new Error(`${files[0]}: the tokenizer needs features [${missing}] that the file lacks`);
    }
    const pre = values.preprocessor
      ? await loadPreprocessor(values.preprocessor as string)
      : QuantileTransform.fit([r.read(0, Math.min(r.info.n, 20000))]);
    r.close();
    const gpu = await requestGpu();
    console.log(
      `adapter: ${gpu.adapterName}; VQ-VAE tokenizer (${values.preset}: dim ${config.dim}, ${config.layers} layers, ${config.codebookSize} x ${config.codeDim} codes), ${steps} steps of ${batch} jets`,
    );
    const out = values.out as string;
    const rep = await trainTokenizer({
      gpu,
      config,
      train: {
        steps,
        batch,
        lr,
        weightDecay: 1e-5,
        warmup: Math.min(100, Math.ceil(steps / 10)),
        seed,
        logEvery: 10,
        valBatches: 8,
      },
      files,
      preprocessor: pre,
      out,
    });
    console.log(`\nwrote ${out}/tokenizer.safetensors, ${out}/vqvae.json, ${out}/plots/`);
    console.log(
      `reconstruction (mean |error|, normalised units): ${
        Object.entries(rep.mae).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", ")
      }`,
    );
    gpu.destroy();
  });
}
