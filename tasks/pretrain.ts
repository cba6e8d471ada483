// `deno task pretrain`: MPM pre-training. With no arguments: generates (once, cached) a synthetic
// JetClass-like set and pre-trains the `small` preset with the ID and regression tasks.
import { parseFlags, runCli } from "./_cli.ts";
import { JetFileReader } from "../src/data/hdf5.ts";
import { defaultData } from "./_synth.ts";
import { loadPreprocessor, QuantileTransform, savePreprocessor } from "../src/data/preprocess.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import { adaptToData, type MPMConfig, preset, withSSFM } from "../src/mpm/config.ts";
import { pretrain } from "../src/train/pretrain.ts";
import { PRETRAIN_TASKS, selectTasks } from "../src/mpm/registry.ts";
import { VQTokenizer } from "../src/mpm/vqvae.ts";

const HELP = `
deno task pretrain [--data FILE...] [--val FILE] [--preset small|paper]
                   [--tasks ${
  PRETRAIN_TASKS.filter((t) => !t.ownsObjective).map((t) => t.name)
},probe | --tasks ssfm[,probe]]
                   [--steps N] [--batch B] [--mask-fraction F] [--objective mae|bert] [--seed S]
                   [--kmeans CODEBOOK.json] [--tokenizer TOKENIZER.safetensors]
                   [--drop-range MIN,MAX] [--sample-steps N]
                   [--out DIR] [--resume DIR] [--config FILE.json] [--preprocessor FILE.json]

Pre-trains a masked-particle-modelling backbone. Without --data it generates a synthetic
JetClass-like set (cached in .cache/) and trains the small preset for a few minutes on a CPU.
--tasks ssfm trains set-to-set flow matching (a generative decoder; each jet drops a fraction
drawn from --drop-range, default 0,0.8); generate jets from the run with \`deno task generate\`.
kmeans needs a codebook from \`deno task kmeans\`, vqvae a tokenizer from \`deno task vqvae\`.
Tasks:
${PRETRAIN_TASKS.map((t) => `  ${t.name.padEnd(7)} ${t.summary}`).join("\n")}
  probe   linear probe on the frozen encoder (monitoring; needs labels)
Writes DIR/config.json, model.safetensors, optim.safetensors, state.json, backbone.safetensors,
preprocessor.json, metrics.csv and plots/*.svg (DIR defaults to run/).
`;

if (import.meta.main) {
  await runCli(async () => {
    const { values } = parseFlags(Deno.args, {
      data: { type: "string", multiple: true },
      val: { type: "string" },
      preset: { type: "string", default: "small" },
      tasks: { type: "string" },
      steps: { type: "string" },
      batch: { type: "string" },
      "mask-fraction": { type: "string" },
      objective: { type: "string" },
      seed: { type: "string" },
      out: { type: "string", default: "run" },
      resume: { type: "string" },
      kmeans: { type: "string" },
      tokenizer: { type: "string" },
      "drop-range": { type: "string" },
      "sample-steps": { type: "string" },
      config: { type: "string" },
      preprocessor: { type: "string" },
    }, HELP);
    const resumeDir = values.resume as string | undefined;
    const out = resumeDir ?? (values.out as string);
    let config: MPMConfig;
    if (resumeDir) config = JSON.parse(await Deno.readTextFile(`${resumeDir}/config.json`));
    else if (values.config) config = JSON.parse(await Deno.readTextFile(values.config as string));
    else {
      if (values.preset !== "small" && values.preset !== "paper") {
        throw new Error(`--preset must be small or paper, got ${values.preset}`);
      }
      config = preset(values.preset);
    }
    if (!resumeDir) {
      const num = (k: string) => (values[k] !== undefined ? Number(values[k]) : undefined);
      if (num("steps") !== undefined) config.train.steps = num("steps")!;
      if (num("batch") !== undefined) config.train.batch = num("batch")!;
      if (num("seed") !== undefined) config.train.seed = num("seed")!;
      if (num("mask-fraction") !== undefined) config.maskFraction = num("mask-fraction")!;
      if (values.objective) {
        if (values.objective !== "mae" && values.objective !== "bert") {
          throw new Error(
            `--objective must be mae or bert, got "${values.objective}" (set-to-set flow matching: --tasks ssfm)`,
          );
        }
        config.objective = values.objective;
      }
      if (values.tasks) {
        config = selectTasks(config, (values.tasks as string).split(","), {
          codebook: values.kmeans as string | undefined,
          tokenizer: values.tokenizer as string | undefined,
        });
      }
      const range = values["drop-range"] as string | undefined;
      const sampleSteps = num("sample-steps");
      if ((range || sampleSteps !== undefined) && !config.tasks.ssfm) {
        throw new Error("--drop-range and --sample-steps apply to --tasks ssfm");
      }
      if (config.tasks.ssfm) {
        const [lo, hi] = range
          ? range.split(",").map(Number)
          : [config.tasks.ssfm.minDrop, config.tasks.ssfm.maxDrop];
        if (!(lo >= 0 && hi <= 1 && lo <= hi)) {
          throw new Error(
            `--drop-range must be MIN,MAX with 0 <= MIN <= MAX <= 1, got "${range}"`,
          );
        }
        if (sampleSteps !== undefined && !(sampleSteps >= 1)) {
          throw new Error(`--sample-steps must be >= 1, got ${sampleSteps}`);
        }
        const o = {
          minDrop: lo,
          maxDrop: hi,
          sampleSteps: sampleSteps ?? config.tasks.ssfm.sampleSteps,
        };
        if (config.objective !== "ssfm") config = withSSFM(config, o);
        else config.tasks.ssfm = { ...config.tasks.ssfm, ...o };
      }
      if (values.kmeans) {
        config.tasks.kmeans = {
          weight: config.tasks.kmeans?.weight ?? 1,
          codebook: values.kmeans as string,
        };
      }
    }
    const files = (values.data as string[] | undefined) ?? [await defaultData(config.train.seed)];
    const info = JetFileReader.open(files[0]);
    const { features, hasIds, hasLabels } = info.info;
    const nLabels = hasLabels
      ? Math.max(...info.read(0, Math.min(info.info.n, 5000)).labels!) + 1
      : 0;
    info.close();
    config = adaptToData(config, features, hasIds, !!values.config);
    if (config.tasks.probe) {
      if (!hasLabels) delete config.tasks.probe;
      else config.tasks.probe.classes = Math.max(config.tasks.probe.classes, nLabels);
    }
    // Preprocessing: given, resumed, or fitted on a sample of the training data.
    await Deno.mkdir(out, { recursive: true });
    const prePath = `${out}/preprocessor.json`;
    let pre;
    if (values.preprocessor) pre = await loadPreprocessor(values.preprocessor as string);
    else if (resumeDir) pre = await loadPreprocessor(prePath);
    else if (config.tasks.vqvae) {
      // The tokenizer's targets only mean something in the preprocessing it was trained with.
      pre = await VQTokenizer.readPreprocessor(config.tasks.vqvae.tokenizer);
    } else {
      const r = JetFileReader.open(files[0]);
      pre = QuantileTransform.fit([r.read(0, Math.min(r.info.n, 20000))]);
      r.close();
    }
    if (!resumeDir) await savePreprocessor(prePath, pre);
    const gpu = await requestGpu();
    console.log(
      `adapter: ${gpu.adapterName}; preset ${config.preset}, ${config.objective}, tasks [${
        Object.keys(config.tasks).filter((k) => (config.tasks as Record<string, unknown>)[k])
      }], features [${config.features}]`,
    );
    const res = await pretrain({
      gpu,
      config,
      trainFiles: files,
      valFiles: values.val ? [values.val as string] : undefined,
      out,
      preprocessor: pre,
      resume: !!resumeDir,
    });
    console.log(`\ndone: ${res.step} steps.`);
    console.log(`  backbone (embedding + encoder): ${res.files.backbone}`);
    console.log(
      `  weights, optimiser, state:      ${out}/model.safetensors, optim.safetensors, state.json`,
    );
    console.log(`  config and preprocessing:       ${res.files.config}, ${prePath}`);
    console.log(`  metrics and plots:              ${res.files.metrics}, ${res.files.plots}/`);
    gpu.destroy();
  });
}
