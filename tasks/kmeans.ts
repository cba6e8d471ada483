// `deno task kmeans`: fit K-Means centroids to normalised particle features on the GPU.
import { parse, runCli, UsageError } from "./_cli.ts";
import type { CommandSpec } from "./_flags.ts";
import { loadPreprocessor, QuantileTransform } from "../src/data/preprocess.ts";
import { sampleJets } from "../src/data/sample.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import { fitKMeans, saveCodebook } from "../src/mpm/kmeans.ts";
import { checkOutputFile } from "../src/train/rundir.ts";

export const SPEC = {
  name: "deno task kmeans",
  summary:
    `Fits K centroids (up to 16384) to the preprocessed features of the real particles of a sample
of N jets drawn across the files (the preprocessing is fitted on the same sample unless given,
and stored in the codebook). Use the codebook with
  deno task pretrain --tasks id,kmeans --kmeans CODEBOOK.json   (it takes the codebook's preprocessing)`,
  flags: {
    data: { type: "path", multiple: true, must: "file", help: "jet files (HDF5)", meta: "FILE..." },
    out: { type: "path", help: "the codebook to write", meta: "CODEBOOK.json" },
    k: { type: "int", min: 2, max: 16384, default: 512, help: "centroids" },
    jets: { type: "int", min: 1, default: 20000, help: "jets in the sample" },
    init: {
      type: "string",
      choices: ["kmeans++", "random"],
      default: "kmeans++",
      help: "initialisation",
    },
    iters: { type: "int", min: 1, default: 100, help: "iteration cap" },
    tol: {
      type: "number",
      min: 0,
      default: 1e-4,
      help: "stop when the relative inertia decrease is below this",
    },
    seed: { type: "int", min: 0, default: 0, help: "seed (sample, initialisation)" },
    preprocessor: {
      type: "path",
      must: "file",
      help: "preprocessing JSON (default: fitted on the sample)",
      meta: "FILE.json",
    },
    overwrite: { type: "bool", help: "replace --out if it exists" },
  },
} satisfies CommandSpec;

if (import.meta.main) {
  await runCli(async () => {
    const { values: v } = parse(Deno.args, SPEC);
    if (!v.data || !v.out) throw new UsageError("--data and --out are required");
    await checkOutputFile(v.out, { overwrite: v.overwrite, inputs: v.data });
    const blocks = sampleJets(v.data, v.jets, v.seed);
    const pre = v.preprocessor
      ? await loadPreprocessor(v.preprocessor)
      : QuantileTransform.fit(blocks);
    const F = blocks[0].features.length;
    const pts: number[] = [];
    for (const block of blocks) {
      const x = pre.transform(block, { seed: v.seed });
      for (let i = 0; i < block.n * block.nParticles; i++) {
        if (block.valid[i]) { for (let f = 0; f < F; f++) pts.push(x[i * F + f]); }
      }
    }
    if (pts.length / F < v.k) {
      throw new UsageError(
        `--k ${v.k} exceeds the ${
          pts.length / F
        } particles of the sample; use more --jets or a smaller --k`,
      );
    }
    const gpu = await requestGpu();
    console.log(
      `fitting K-Means with k=${v.k} on ${
        pts.length / F
      } particles x ${F} features (${gpu.adapterName})`,
    );
    const res = await fitKMeans(gpu, Float32Array.from(pts), F, {
      k: v.k,
      init: v.init as "kmeans++" | "random",
      maxIter: v.iters,
      tol: v.tol,
      seed: v.seed,
      onIter: (it, inertia) =>
        console.log(`  iteration ${it}/${v.iters}: inertia ${inertia.toFixed(5)}`),
    });
    await saveCodebook(v.out, res, blocks[0].features, pre);
    console.log(`wrote ${v.out} (${res.iters} iterations, inertia ${res.inertia.toFixed(5)})`);
    console.log(
      `next: deno task pretrain --data ${
        v.data.join(" ")
      } --tasks id,kmeans,probe --kmeans ${v.out}`,
    );
    gpu.destroy();
  }, "deno task kmeans --help");
}
