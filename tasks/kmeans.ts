// `deno task kmeans`: fit K-Means centroids to normalised particle features on the GPU.
import { parseFlags, runCli } from "./_cli.ts";
import { JetFileReader } from "../src/data/hdf5.ts";
import { loadPreprocessor, QuantileTransform } from "../src/data/preprocess.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import { fitKMeans, saveCodebook } from "../src/mpm/kmeans.ts";

const HELP = `
deno task kmeans --data FILE.h5 --out CODEBOOK.json [--k 512] [--jets 20000]
                 [--init kmeans++|random] [--iters 100] [--tol 1e-4] [--seed S]
                 [--preprocessor FILE.json]

Fits K centroids (up to 16384) to the preprocessed features of the real particles of the first
N jets (the preprocessing is fitted on the same sample unless given). Use the codebook with
\`deno task pretrain --tasks id,kmeans --kmeans CODEBOOK.json\` (same preprocessing).
`;

if (import.meta.main) {
  await runCli(async () => {
    const { values } = parseFlags(Deno.args, {
      data: { type: "string" },
      out: { type: "string" },
      k: { type: "string", default: "512" },
      jets: { type: "string", default: "20000" },
      init: { type: "string", default: "kmeans++" },
      iters: { type: "string", default: "100" },
      tol: { type: "string", default: "1e-4" },
      seed: { type: "string", default: "0" },
      preprocessor: { type: "string" },
    }, HELP);
    if (!values.data || !values.out) throw new Error("--data and --out are required (see --help)");
    const k = Number(values.k);
    if (!(k >= 2 && k <= 16384)) throw new Error(`--k must be in [2, 16384], got ${values.k}`);
    if (values.init !== "kmeans++" && values.init !== "random") {
      throw new Error(`--init must be kmeans++ or random`);
    }
    const r = JetFileReader.open(values.data as string);
    const block = r.read(0, Number(values.jets));
    r.close();
    const pre = values.preprocessor
      ? await loadPreprocessor(values.preprocessor as string)
      : QuantileTransform.fit([block]);
    const x = pre.transform(block, { seed: Number(values.seed) });
    const F = block.features.length;
    const pts: number[] = [];
    for (let i = 0; i < block.n * block.nParticles; i++) {
      if (block.valid[i]) {
        for (let f = 0; f < F; f++) pts.push(x[i * F + f]);
      }
    }
    const gpu = await requestGpu();
    console.log(
      `fitting K-Means with k=${k} on ${
        pts.length / F
      } particles x ${F} features (${gpu.adapterName})`,
    );
    const res = await fitKMeans(gpu, Float32Array.from(pts), F, {
      k,
      init: values.init,
      maxIter: Number(values.iters),
      tol: Number(values.tol),
      seed: Number(values.seed),
      onIter: (it, inertia) => console.log(`  iteration ${it}: inertia ${inertia.toFixed(5)}`),
    });
    await saveCodebook(values.out as string, res, block.features);
    console.log(`wrote ${values.out} (${res.iters} iterations, inertia ${res.inertia.toFixed(5)})`);
    gpu.destroy();
  });
}
