// `deno task generate`: whole jets from a set-to-set flow-matching run, written to HDF5, with a
// generation-quality report against held-out real jets and the marginal baseline.
import { formatDuration, parseFlags, Progress, runCli } from "./_cli.ts";
import { defaultData } from "./_synth.ts";
import { writeAtomic } from "../src/io/files.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import {
  generateJets,
  generationReport,
  loadSSFMRun,
  marginalJets,
  multiplicities,
  readRealJets,
} from "../src/train/generate.ts";

const HELP = `
deno task generate --run DIR [--jets N] [--multiplicity N] [--data FILE...] [--steps S]
                   [--seed S] [--batch B] [--out FILE.h5] [--report DIR] [--no-report]

Generates whole jets with a run of \`deno task pretrain --tasks ssfm\` (everything dropped: the
decoder builds each jet from noise given only the encoder's registers) and writes them, in
physical units and pT order, to FILE.h5 (default DIR/generated.h5; the reference layout: csts,
csts_id, mask).

Multiplicities: --multiplicity N for every jet, else those of the training split of --data
(default: the run's synthetic default data). The report compares the generated jets with as
many held-out real jets (the test split of --data) and with a baseline that draws every
feature independently from its marginal: per-feature and jet-observable 1-Wasserstein
distances (REPORT/generation.json) and histograms side by side (REPORT/*.svg; default
DIR/generation/).
`;

if (import.meta.main) {
  await runCli(async () => {
    const { values } = parseFlags(Deno.args, {
      run: { type: "string" },
      jets: { type: "string", default: "1000" },
      multiplicity: { type: "string" },
      data: { type: "string", multiple: true },
      steps: { type: "string" },
      seed: { type: "string", default: "0" },
      batch: { type: "string", default: "256" },
      out: { type: "string" },
      report: { type: "string" },
      "no-report": { type: "boolean" },
    }, HELP);
    const dir = values.run as string | undefined;
    if (!dir) {
      throw new Error("--run DIR is required (a folder of `deno task pretrain --tasks ssfm`)");
    }
    const int = (k: string, min: number) => {
      const v = Number(values[k]);
      if (!Number.isInteger(v) || v < min) {
        throw new Error(`--${k} must be an integer >= ${min}, got "${values[k]}"`);
      }
      return v;
    };
    const jets = int("jets", 1), seed = int("seed", 0), batch = int("batch", 1);
    const steps = values.steps !== undefined ? int("steps", 1) : undefined;
    const gpu = await requestGpu();
    const run = await loadSSFMRun(gpu, dir);
    const { config } = run;
    const fixed = values.multiplicity !== undefined ? int("multiplicity", 1) : undefined;
    if (fixed !== undefined && fixed > config.maxParticles) {
      throw new Error(
        `--multiplicity ${fixed} exceeds the model's particle limit (${config.maxParticles})`,
      );
    }
    const report = !values["no-report"];
    const files = (values.data as string[] | undefined) ??
      (report || fixed === undefined ? [await defaultData(config.train.seed)] : []);
    const read = (split: "train" | "test") =>
      readRealJets(files, {
        split,
        n: jets,
        features: config.features,
        maxParticles: config.maxParticles,
      });
    const train = files.length ? read("train") : null;
    const mult = fixed ?? multiplicities(train!);
    const out = (values.out as string | undefined) ?? `${dir}/generated.h5`;
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
    const repDir = (values.report as string | undefined) ?? `${dir}/generation`;
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
    console.log("\n1-Wasserstein distance to real jets (generated | marginal baseline):");
    const row = (k: string, v: { model: number; baseline: number }, note = "") =>
      console.log(
        `  ${k.padEnd(16)} ${v.model.toPrecision(4).padStart(10)} | ${
          v.baseline.toPrecision(4).padStart(10)
        }${note}`,
      );
    // The baseline draws each feature from its marginal: it matches per-feature distributions by
    // construction, so the test of a generator is the jet level (correlations).
    console.log("  particle features (the baseline matches these by construction):");
    for (const [k, v] of Object.entries(rep.features)) row(k, v);
    console.log("  jet observables:");
    for (const [k, v] of Object.entries(rep.jet)) {
      row(
        k,
        v,
        k === "multiplicity"
          ? "   (an input: both use the same multiplicities)"
          : v.model < v.baseline
          ? "   better than the baseline"
          : "   NOT better than the baseline",
      );
    }
    console.log(`report: ${repDir}/generation.json and ${repDir}/*.svg`);
    gpu.destroy();
  });
}
