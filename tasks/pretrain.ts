// `deno task pretrain`: MPM pre-training. With no arguments: generates (once, cached) a synthetic
// JetClass-like set and pre-trains the `small` preset with the ID and regression tasks.
import { inScratch, onInterrupt, parse, rankScratch, runCli, UsageError, warn } from "./_cli.ts";
import { Mpi } from "../src/io/mpi.ts";
import type { CommandSpec } from "./_flags.ts";
import { JetFileReader } from "../src/data/hdf5.ts";
import { labelSummary } from "../src/data/labels.ts";
import { loadPreprocessor, type Preprocessor, QuantileTransform } from "../src/data/preprocess.ts";
import { JETCLASS_REFERENCE, resolvePreprocessor } from "../src/data/reference_preprocessing.ts";
import { checkPath } from "./_flags.ts";
import { sampleJets } from "../src/data/sample.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import { changedFiles, fingerprintFile } from "../src/io/fingerprint.ts";
import { adaptToData, type MPMConfig, preset, withSSFM } from "../src/mpm/config.ts";
import { PRETRAIN_TASKS, selectTasks, taskNames } from "../src/mpm/registry.ts";
import { VQTokenizer } from "../src/mpm/vqvae.ts";
import { loadCodebook } from "../src/mpm/kmeans.ts";
import { savedTimeEmbedding } from "../src/mpm/ssfm.ts";
import { readWeights } from "../src/autograd/weights.ts";
import { pretrain } from "../src/train/pretrain.ts";
import { checkRunDir } from "../src/train/rundir.ts";
import { CACHE_FLAG, defaultData } from "./_synth.ts";

export const SPEC = {
  name: "deno task pretrain",
  summary: `Pre-trains a masked-particle-modelling backbone. Without --data it generates a synthetic
JetClass-like set (cached in .cache/) and trains the small preset for a few minutes on a CPU.
Tasks (--tasks):
${PRETRAIN_TASKS.map((t) => `  ${t.name.padEnd(7)} ${t.summary}`).join("\n")}
  probe   linear probe on the frozen encoder (monitoring; needs labels)`,
  flags: {
    "cache-dir": CACHE_FLAG,
    data: {
      type: "path",
      multiple: true,
      must: "file",
      help: "training files (HDF5)",
      meta: "FILE...",
    },
    val: {
      type: "path",
      multiple: true,
      must: "file",
      help: "validation files (default: the 10 % val split)",
      meta: "FILE...",
    },
    preset: {
      type: "string",
      choices: ["small", "paper"],
      default: "small",
      help: "model and schedule preset",
    },
    config: {
      type: "path",
      must: "file",
      help: "a full config.json instead of a preset",
      meta: "FILE.json",
    },
    tasks: { type: "list", of: "string", choices: taskNames(), help: "pre-training tasks" },
    objective: {
      type: "string",
      choices: ["mae", "bert"],
      hint: "set-to-set flow matching is --tasks ssfm",
      help: "MPMv2 (mae) or the MPMv1-style ablation (bert)",
    },
    "bert-head": {
      type: "bool",
      help: "bert: an MLP between the encoder and the task heads (the reference has none)",
    },
    steps: { type: "int", min: 1, help: "optimiser steps (with --resume: continue to this step)" },
    batch: { type: "int", min: 1, help: "jets per batch" },
    lr: { type: "number", above: 0, max: 1, help: "peak learning rate" },
    "mask-fraction": {
      type: "number",
      above: 0,
      max: 0.95,
      help: "fraction of each jet dropped",
      meta: "F",
    },
    precision: {
      type: "string",
      choices: ["f32", "f16"],
      help:
        "matmul operands of the linear layers: f32, or f16 (mixed precision: f32 accumulation and master weights; needs shader-f16); default MPM_PRECISION or f32",
    },
    seed: { type: "int", min: 0, help: "run seed (data order, masking, initialisation)" },
    classes: {
      type: "int",
      min: 2,
      help: "jet classes of the probe (default: from every training file's labels)",
    },
    kmeans: {
      type: "path",
      must: "file",
      help: "K-Means codebook for --tasks kmeans",
      meta: "CODEBOOK.json",
    },
    tokenizer: {
      type: "path",
      must: "file",
      help: "VQ-VAE tokenizer for --tasks vqvae",
      meta: "FILE",
    },
    "drop-range": {
      type: "list",
      of: "number",
      length: 2,
      min: 0,
      max: 1,
      help: "ssfm: per-jet dropped fraction MIN,MAX",
      meta: "MIN,MAX",
    },
    "sample-steps": { type: "int", min: 1, help: "ssfm/cfm: midpoint steps of the sampler" },
    preprocessor: {
      type: "path",
      help:
        `preprocessing JSON, or ${JETCLASS_REFERENCE} for the reference's quantiles fitted on ` +
        "real JetClass (default: fitted on a sample of every training file)",
      meta: "FILE.json|NAME",
    },
    out: {
      type: "path",
      default: "run",
      help: "run folder (refused if it holds another run)",
      meta: "DIR",
    },
    distributed: {
      type: "bool",
      help:
        "data-parallel over MPI (mpiexec -n R deno task pretrain ...): each rank computes 1/R of every batch",
    },
    resume: {
      type: "path",
      must: "exist",
      help: "continue the run in DIR, on the data it started with",
      meta: "DIR",
    },
    overwrite: { type: "bool", help: "replace the run already in --out" },
    "data-changed": {
      type: "bool",
      help: "with --resume: accept data that differs from the run's record",
    },
    "skip-bad-jets": { type: "bool", help: "skip and count bad jets instead of stopping" },
    truncate: {
      type: "bool",
      help: "keep the hardest particles of jets longer than the model allows",
    },
  },
  notes: `Writes DIR/run.json, config.json (with the inputs' fingerprints), preprocessor.json,
metrics.csv, plots/*.svg and, at each checkpoint, model.safetensors, optim.safetensors,
state.json and backbone.safetensors (checkpoints/ and checkpoint.json make them crash-safe).
Resume with --resume DIR (no --data needed: the run uses the files it recorded).
Next: deno task finetune --backbone DIR/backbone.safetensors, or deno task probe.`,
} satisfies CommandSpec;

/** Flags that would change a run that is being resumed. */
const FIXED_ON_RESUME = [
  "preset",
  "config",
  "tasks",
  "objective",
  "batch",
  "lr",
  "mask-fraction",
  "seed",
  "classes",
  "kmeans",
  "tokenizer",
  "drop-range",
  "sample-steps",
  "preprocessor",
  "out",
  "overwrite",
  "val",
] as const;

async function readConfig(path: string): Promise<MPMConfig> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new Error(`${path}: cannot read the config (${(e as Error).message})`);
  }
}

type Values = ReturnType<typeof parse<typeof SPEC>>["values"];

/** The configuration of a new run from the preset or --config and the flags. */
async function newConfig(v: Values, given: Set<string>): Promise<MPMConfig> {
  let config = v.config ? await readConfig(v.config) : preset(v.preset as "small" | "paper");
  if (v.steps !== undefined) config.train.steps = v.steps;
  if (v.batch !== undefined) config.train.batch = v.batch;
  if (v.lr !== undefined) config.train.lr = v.lr;
  if (v.seed !== undefined) config.train.seed = v.seed;
  if (v["mask-fraction"] !== undefined) config.maskFraction = v["mask-fraction"];
  if (v.objective) config.objective = v.objective as "mae" | "bert";
  if (v["bert-head"]) {
    if (config.objective !== "bert") {
      throw new UsageError("--bert-head needs --objective bert (it adds an MLP to the BERT pass)");
    }
    config.bertHead = true;
  }
  if (v.tasks) {
    config = selectTasks(config, v.tasks, { codebook: v.kmeans, tokenizer: v.tokenizer });
  }
  if (v.tokenizer && !v.tasks) {
    config.tasks.vqvae = { weight: config.tasks.vqvae?.weight ?? 1, tokenizer: v.tokenizer };
  }
  if (v.kmeans && !v.tasks) {
    config.tasks.kmeans = { weight: config.tasks.kmeans?.weight ?? 1, codebook: v.kmeans };
  }
  if ((given.has("drop-range") || given.has("sample-steps")) && !config.tasks.ssfm) {
    if (given.has("drop-range") || !config.tasks.cfm) {
      throw new UsageError(
        "--drop-range and --sample-steps apply to --tasks ssfm (and --sample-steps to cfm)",
      );
    }
    config.tasks.cfm!.sampleSteps = v["sample-steps"];
  }
  if (config.tasks.ssfm) {
    const [lo, hi] = v["drop-range"] ?? [config.tasks.ssfm.minDrop, config.tasks.ssfm.maxDrop];
    if (!(lo <= hi)) throw new UsageError(`--drop-range ${lo},${hi}: MIN must not exceed MAX`);
    const o = {
      minDrop: lo,
      maxDrop: hi,
      sampleSteps: v["sample-steps"] ?? config.tasks.ssfm.sampleSteps,
    };
    if (config.objective !== "ssfm") config = withSSFM(config, o);
    else config.tasks.ssfm = { ...config.tasks.ssfm, ...o };
  }
  return config;
}

/** The training files of a resumed run: the recorded ones, or the given ones if they match. */
async function resumeFiles(config: MPMConfig, dir: string, v: Values): Promise<string[]> {
  const recorded = config.data?.train;
  if (!v.data) {
    if (!recorded) {
      throw new Error(
        `${dir}/config.json records no data files (a run from before 0.2); pass --data with the files it used`,
      );
    }
    const changed = await changedFiles(recorded);
    if (changed.length && !v["data-changed"]) {
      throw new Error(
        `the run's data changed: ${
          changed.join("; ")
        }; restore the files, or pass --data-changed to continue anyway`,
      );
    }
    return recorded.map((f) => f.path);
  }
  const now = await Promise.all(v.data.map((f) => fingerprintFile(f)));
  const same = recorded && recorded.length === now.length &&
    recorded.every((r, i) => r.sha256 === now[i].sha256 && r.bytes === now[i].bytes);
  if (recorded && !same && !v["data-changed"]) {
    throw new Error(
      `--data ${v.data.join(" ")} is not the data the run started with (${
        recorded.map((r) => r.path).join(", ")
      }); resume without --data, or pass --data-changed to continue on other data`,
    );
  }
  if (!same) config.data = { ...config.data, train: now };
  return v.data;
}

/**
 * Preprocessing: resumed, given (a file or the reference's JetClass quantiles), the tokenizer's
 * or codebook's, or fitted on a sample drawn across every training file; with where it came from.
 */
async function preprocessing(
  v: Values,
  config: MPMConfig,
  files: string[],
): Promise<{ pre: Preprocessor; source: string }> {
  if (v.resume) {
    return { pre: await loadPreprocessor(`${v.resume}/preprocessor.json`), source: "the run's" };
  }
  if (v.preprocessor) {
    return {
      pre: await resolvePreprocessor(v.preprocessor, config.features),
      source: v.preprocessor,
    };
  }
  const pre = await fromTask(config);
  if (pre) return pre;
  const n = 20000;
  return {
    pre: QuantileTransform.fit(sampleJets(files, n, config.train.seed)),
    source: `quantiles fitted on about ${n} jets drawn across ${files.length} file(s)`,
  };
}

/** The preprocessing a tokenizer or a codebook was made in (their targets mean nothing in another). */
async function fromTask(config: MPMConfig): Promise<{ pre: Preprocessor; source: string } | null> {
  const t = config.tasks;
  if (t.vqvae) {
    return {
      pre: await VQTokenizer.readPreprocessor(t.vqvae.tokenizer),
      source: t.vqvae.tokenizer,
    };
  }
  if (t.kmeans) {
    const cb = await loadCodebook(t.kmeans.codebook);
    if (cb.preprocessor) return { pre: cb.preprocessor, source: t.kmeans.codebook };
  }
  return null;
}

/** Copies a run folder (rank > 0 resumes from a private copy of rank 0's run). */
async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else if (e.isFile) await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

if (import.meta.main) {
  await runCli(async () => {
    const { values: v, given } = parse(Deno.args, SPEC);
    const mpi = v.distributed ? Mpi.init() : undefined;
    const rank = mpi?.rank ?? 0;
    // Ranks other than 0 print nothing and write only into a scratch folder removed at the end.
    const say = rank === 0 ? (line: string) => console.log(line) : () => {};
    const out = v.resume ?? v.out;
    if (v.resume) {
      const bad = FIXED_ON_RESUME.filter((f) => given.has(f));
      if (bad.length) {
        throw new UsageError(
          `${
            bad.map((f) => `--${f}`).join(", ")
          } cannot change a resumed run (its config.json and files fix them); start a new run with --out`,
        );
      }
    }
    let config: MPMConfig;
    let files: string[];
    if (v.resume) {
      await checkRunDir(out, {
        kind: "pretrain",
        resume: true,
        required: ["config.json", "metrics.csv", "preprocessor.json"],
      });
      config = await readConfig(`${v.resume}/config.json`);
      if (config.objective === "ssfm") {
        // A run saved before the reference time embedding became the default keeps its own.
        const names = await readWeights(`${v.resume}/model.safetensors`)
          .then((w) => [...w.tensors.keys()], () => []);
        config = savedTimeEmbedding(config, names);
      }
      files = await resumeFiles(config, v.resume, v);
      if (v.steps !== undefined) {
        if (v.steps !== config.train.steps) {
          say(`schedule: continuing to step ${v.steps} (was ${config.train.steps})`);
        }
        config.train.steps = v.steps;
      }
    } else {
      config = await newConfig(v, given);
      // Rank 0 writes the default data into the cache; the others read it after the barrier.
      const data = () => v.data ?? defaultData(config.train.seed, v["cache-dir"]).then((f) => [f]);
      files = rank === 0 ? await data() : [];
      mpi?.barrier();
      if (rank !== 0) files = await data();
    }
    if (mpi && config.train.batch % mpi.size !== 0) {
      throw new UsageError(
        `--batch ${config.train.batch} does not split over ${mpi.size} ranks; use a multiple of ${mpi.size}`,
      );
    }
    await checkRunDir(out, {
      kind: "pretrain",
      overwrite: v.overwrite,
      resume: !!v.resume,
      required: ["config.json", "metrics.csv", "preprocessor.json"],
    });

    const info = JetFileReader.open(files[0]);
    const { features, hasIds } = info.info;
    info.close();
    const labels = labelSummary(files, { classes: v.classes });
    if (!v.resume) {
      config = adaptToData(config, features, hasIds, !!v.config);
      if (config.tasks.probe) {
        if (!labels) delete config.tasks.probe;
        else config.tasks.probe.classes = labels.classes;
      }
      if (v.classes !== undefined && !config.tasks.probe) {
        warn("--classes has no effect without the probe (--tasks ...,probe) and labels");
      }
    }
    if (v.preprocessor && v.preprocessor !== JETCLASS_REFERENCE) {
      checkPath("--preprocessor", v.preprocessor, "file");
    }
    const { pre, source } = await preprocessing(v, config, files);
    if (!v.resume) say(`preprocessing: ${source}`);
    const gpu = await requestGpu({ precision: v.precision as "f32" | "f16" | undefined });
    say(
      `adapter: ${gpu.adapterName}${
        gpu.precision === "f16" ? " (f16 matmul operands)" : ""
      }; preset ${config.preset}, ${config.objective}, tasks [${
        Object.keys(config.tasks).filter((k) => config.tasks[k])
      }], features [${config.features}]${labels ? `, ${labels.classes} classes` : ""}`,
    );
    if (rank === 0) {
      onInterrupt(() => {
        let step: number | undefined;
        try {
          step = JSON.parse(Deno.readTextFileSync(`${out}/checkpoint.json`)).step;
        } catch { /* none written */ }
        return step === undefined
          ? `no checkpoint yet (${out}/checkpoint.json), so nothing to resume: start again with ` +
            "the same command and --overwrite"
          : `the last complete checkpoint is step ${step} (${out}/checkpoint.json); continue ` +
            `exactly where it left off with deno task pretrain --resume ${out}`;
      });
    }
    const scratch = rank === 0 ? out : await rankScratch(rank, out);
    if (rank !== 0 && v.resume) await copyDir(out, scratch); // before rank 0 writes anything
    mpi?.barrier();
    const res = await inScratch(rank, scratch, out, () =>
      pretrain({
        gpu,
        config,
        trainFiles: files,
        valFiles: v.resume ? config.data?.val?.map((f) => f.path) : v.val,
        out: scratch,
        mpi,
        log: say,
        preprocessor: pre,
        preprocessorSource: source,
        resume: !!v.resume,
        overwrite: v.overwrite,
        skipBadJets: v["skip-bad-jets"],
        truncate: v.truncate,
        classes: labels?.classes,
        command: ["pretrain", ...Deno.args],
      }));
    if (mpi) {
      if (rank !== 0) await Deno.remove(scratch, { recursive: true });
      mpi.finalize();
      if (rank !== 0) return gpu.destroy();
    }
    console.log(`\ndone: ${res.step} steps.`);
    console.log(`  backbone (embedding + encoder): ${res.files.backbone}`);
    console.log(
      `  weights, optimiser, state:      ${out}/model.safetensors, optim.safetensors, state.json`,
    );
    console.log(`  config and preprocessing:       ${res.files.config}, ${out}/preprocessor.json`);
    console.log(`  metrics and plots:              ${res.files.metrics}, ${res.files.plots}/`);
    console.log(
      `next: deno task finetune --task classify --backbone ${res.files.backbone} --train FILE`,
    );
    console.log(`      deno task probe --backbone ${res.files.backbone} --data FILE`);
    gpu.destroy();
  }, "deno task pretrain --help");
}
