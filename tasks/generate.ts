// `deno task generate`: whole jets from a set-to-set flow-matching run, written to HDF5, with a
// generation-quality report against held-out real jets and the marginal baseline.
import { formatDuration, parse, Progress, runCli, UsageError } from "./_cli.ts";
import type { CommandSpec } from "./_flags.ts";
import { checkOutputFile, checkRunDir } from "../src/train/rundir.ts";
import { CACHE_FLAG, defaultData } from "./_synth.ts";
import { writeAtomic } from "../src/io/files.ts";
import { claimRunDir } from "../src/train/rundir.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import {
  generateJets,
  loadSSFMRun,
  marginalJets,
  multiplicities,
  readRealJets,
} from "../src/train/generate.ts";
import {
  type GenerationMetric,
  generationReport,
  verdict,
} from "../src/train/generation_report.ts";

export const SPEC = {
  name: "deno task generate",
  summary:
    `Generates whole jets with a run of \`deno task pretrain --tasks ssfm\` (everything dropped: the
decoder builds each jet from noise given only the encoder's registers) and writes them, in
physical units and pT order, to FILE.h5 (default DIR/generated.h5; the reference layout: csts,
csts_id, mask).
Multiplicities: --multiplicity N for every jet, else those of the training split of --data
(default: the run's synthetic default data). The report compares the generated jets with as
many held-out real jets (the test split of --data) and with a baseline that draws every
feature independently from its marginal: per-feature and jet-observable 1-Wasserstein
distances (REPORT/generation.json) and histograms side by side (REPORT/*.svg; default
DIR/generation/).`,
  flags: {
    "cache-dir": CACHE_FLAG,
    run: {
      type: "path",
      must: "exist",
      help: "a run of deno task pretrain --tasks ssfm",
      meta: "DIR",
    },
    jets: { type: "int", min: 1, default: 1000, help: "jets to generate" },
    multiplicity: {
      type: "int",
      min: 1,
      help: "particles per jet (default: the data's multiplicities)",
    },
    data: {
      type: "path",
      multiple: true,
      must: "file",
      help: "real jets (multiplicities, report)",
      meta: "FILE...",
    },
    steps: { type: "int", min: 1, help: "midpoint steps of the sampler (default: the run's)" },
    seed: { type: "int", min: 0, default: 0, help: "noise seed" },
    batch: { type: "int", min: 1, default: 256, help: "jets per generation batch" },
    out: { type: "path", help: "generated jets (default DIR/generated.h5)", meta: "FILE.h5" },
    report: { type: "path", help: "report folder (default DIR/generation)", meta: "DIR" },
    "no-report": { type: "bool", help: "skip the comparison with real jets" },
    overwrite: { type: "bool", help: "replace --out and the report if they exist" },
    "skip-bad-jets": { type: "bool", help: "skip and count bad real jets instead of stopping" },
  },
} satisfies CommandSpec;

if (import.meta.main) {
  await runCli(async () => {
    const { values } = parse(Deno.args, SPEC);
    const dir = values.run;
    if (!dir) {
      throw new UsageError("--run DIR is required (a folder of `deno task pretrain --tasks ssfm`)");
    }
    const jets = values.jets, seed = values.seed, batch = values.batch, steps = values.steps;
    const out = values.out ?? `${dir}/generated.h5`;
    const repDir = values.report ?? `${dir}/generation`;
    await checkOutputFile(out, { overwrite: values.overwrite, inputs: values.data });
    if (!values["no-report"]) {
      await checkRunDir(repDir, { kind: "generate", overwrite: values.overwrite });
    }
    const gpu = await requestGpu();
    const run = await loadSSFMRun(gpu, dir);
    const { config } = run;
    const fixed = values.multiplicity;
    if (fixed !== undefined && fixed > config.maxParticles) {
      throw new Error(
        `--multiplicity ${fixed} exceeds the model's particle limit (${config.maxParticles})`,
      );
    }
    const report = !values["no-report"];
    const files = values.data ??
      (report || fixed === undefined
        ? [await defaultData(config.train.seed, values["cache-dir"])]
        : []);
    const read = (split: "train" | "test") =>
      readRealJets(files, {
        split,
        n: jets,
        features: config.features,
        maxParticles: config.maxParticles,
        skipBadJets: values["skip-bad-jets"],
      });
    const train = files.length ? read("train") : null;
    const mult = fixed ?? multiplicities(train!);
    console.log(
      `adapter: ${gpu.adapterName}; generating ${jets} jets (${
        fixed ? `${fixed} particles each` : "multiplicities of the training split"
      }), ${steps ?? config.tasks.ssfm!.sampleSteps ?? 50} midpoint steps`,
    );
    const progress = new Progress("generate", jets);
    const { block, seconds } = await generateJets({
      run,
      jets,
      multiplicity: mult,
      steps,
      seed,
      batch,
      out,
      onProgress: (d) => progress.update(d),
    });
    progress.done(jets);
    console.log(
      `wrote ${out}: ${jets} jets in ${formatDuration(seconds)} (${
        (jets / seconds).toFixed(1)
      } jets/s)`,
    );
    if (!report) {
      gpu.destroy();
      return;
    }
    const real = read("test");
    const n = Math.min(real.n, block.n);
    if (n < block.n) console.log(`comparing with the ${n} real jets of the test split`);
    const cut = <T extends { n: number }>(b: T, k: number): T => ({ ...b, n: k });
    const baseline = marginalJets(block, train!, seed);
    await claimRunDir(repDir, { kind: "generate", inputs: {}, seed, run: dir }, {
      overwrite: values.overwrite,
    });
    const rep = await generationReport({
      generated: cut(block, n),
      real: cut(real, n),
      baseline: cut(baseline, n),
      plots: repDir,
    });
    await writeAtomic(
      `${repDir}/generation.json`,
      JSON.stringify({ ...rep, jets_per_s: jets / seconds, steps, seed, run: dir }, null, 2),
    );
    console.log(
      `\n1-Wasserstein distance to ${n} real jets (generated | marginal baseline, ± bootstrap std):`,
    );
    const row = (k: string, v: GenerationMetric, note = "") =>
      console.log(
        `  ${k.padEnd(16)} ${v.model.toPrecision(4).padStart(10)} ± ${
          (v.model_err ?? 0).toPrecision(2).padEnd(7)
        } | ${v.baseline.toPrecision(4).padStart(10)} ± ${
          (v.baseline_err ?? 0).toPrecision(2)
        }${note}`,
      );
    // The baseline draws each feature from its marginal: it matches per-feature distributions by
    // construction, so the test of a generator is the jet level (correlations).
    console.log("  particle features (the baseline matches these by construction):");
    for (const [k, v] of Object.entries(rep.features)) row(k, v);
    console.log("  jet observables:");
    for (const [k, v] of Object.entries(rep.jet)) {
      const w = verdict(v);
      row(
        k,
        v,
        k === "multiplicity"
          ? "   (an input: both use the same multiplicities)"
          : w === "better"
          ? "   better than the baseline (beyond 2 sigma)"
          : w === "worse"
          ? "   worse than the baseline (beyond 2 sigma)"
          : `   not distinguishable from the baseline with ${n} jets`,
      );
    }
    if (rep.jetnet) {
      console.log("  JetNet metrics (relative coordinates; FPD/KPD on the 4 jet observables):");
      for (const k of Object.keys(rep.jetnet.model)) {
        const m = rep.jetnet.model[k], b = rep.jetnet.baseline[k];
        console.log(
          `  ${k.padEnd(16)} ${m.value.toPrecision(4).padStart(10)} ± ${m.error.toPrecision(2)} | ${
            b.value.toPrecision(4)
          } ± ${b.error.toPrecision(2)}`,
        );
      }
    }
    console.log(`report: ${repDir}/generation.json and ${repDir}/*.svg`);
    gpu.destroy();
  }, "deno task generate --help");
}
