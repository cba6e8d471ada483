// `deno task pretrain`: MPM pre-training. With no arguments: generates (once, cached) a synthetic
// JetClass-like set and pre-trains the `small` preset with the ID and regression tasks.
import { parseFlags, runCli } from "./_cli.ts";
import { JetFileReader, JetFileWriter } from "../src/data/hdf5.ts";
import { loadPreprocessor, QuantileTransform, savePreprocessor } from "../src/data/preprocess.ts";
import { synthJetClass } from "../src/data/synth.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import { adaptToData, type MPMConfig, preset } from "../src/mpm/config.ts";
import { pretrain } from "../src/train/pretrain.ts";

const HELP = `
deno task pretrain [--data FILE...] [--val FILE] [--preset small|paper] [--tasks id,reg,kmeans,cfm,cnf,probe]
                   [--steps N] [--batch B] [--mask-fraction F] [--objective mae|bert] [--seed S]
                   [--kmeans CODEBOOK.json]
                   [--out DIR] [--resume DIR] [--config FILE.json] [--preprocessor FILE.json]

Pre-trains a masked-particle-modelling backbone. Without --data it generates a synthetic
JetClass-like set (cached in .cache/) and trains the small preset for a few minutes on a CPU.
Writes DIR/config.json, model.safetensors, optim.safetensors, state.json, backbone.safetensors,
preprocessor.json, metrics.csv and plots/*.svg (DIR defaults to run/).
`;

const CACHE = ".cache/synth";

async function defaultData(seed: number): Promise<string> {
  const path = `${CACHE}/jetclass_60000_seed${seed}.h5`;
  try {
    Deno.statSync(path);
    return path;
  } catch { /* generate */ }
  await Deno.mkdir(CACHE, { recursive: true });
  console.log(`generating 60000 synthetic JetClass-like jets (once) -> ${path}`);
  const w = JetFileWriter.create(path, { nParticles: 128, features: synthJetClass(1).features });
  for (let s = 0; s < 60000; s += 10000) w.append(synthJetClass(10000, { seed, start: s }));
  w.close();
  return path;
}

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
      if (values.objective) config.objective = values.objective as "mae" | "bert";
      if (values.tasks) {
        const want = new Set((values.tasks as string).split(","));
        const known = ["id", "reg", "kmeans", "cfm", "cnf", "probe"];
        for (const t of want) {
          if (!known.includes(t)) {
            throw new Error(`unknown task "${t}" (available: ${known.join(", ")})`);
          }
        }
        if (want.has("kmeans") && !values.kmeans && !config.tasks.kmeans) {
          throw new Error(
            "--tasks kmeans needs --kmeans CODEBOOK.json (fit one with `deno task kmeans`)",
          );
        }
        const all = preset("small").tasks;
        const pick = <T>(name: string, current: T | undefined, fallback: T) =>
          want.has(name) ? (current ?? fallback) : undefined;
        config.tasks = {
          id: pick("id", config.tasks.id, all.id ?? { weight: 0.3 }),
          reg: pick("reg", config.tasks.reg, all.reg ?? { weight: 1 }),
          kmeans: pick("kmeans", config.tasks.kmeans, { weight: 1, codebook: "" }),
          cfm: pick("cfm", config.tasks.cfm, { weight: 1 }),
          cnf: pick("cnf", config.tasks.cnf, { weight: 1 }),
          probe: pick("probe", config.tasks.probe, all.probe ?? { every: 10, classes: 10 }),
        };
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
    else {
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
