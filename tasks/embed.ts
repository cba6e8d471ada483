// `deno task embed --backbone FILE --data FILE --out FILE.h5`: per-particle and per-jet encoder
// outputs of a pre-trained backbone for the jets of a file.
import { parseFlags, Progress, runCli } from "./_cli.ts";
import { ArrayFileWriter } from "../src/data/hdf5_arrays.ts";
import { JetLoader } from "../src/data/loader.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import { Backbone } from "../src/mpm/backbone.ts";

const HELP = `
deno task embed --backbone FILE --data FILE --out FILE.h5 [--jets N] [--batch B] [--seed S]

Runs a backbone (from \`deno task pretrain\`) on full jets and writes, per jet:
  jet_embedding (N, D)          mean over registers and particles of the encoder output
  particle_embedding (N, P, D)  encoder output of every particle slot (zeros at padding)
  mask (N, P), and labels (N,) when the data has them.
`;

if (import.meta.main) {
  await runCli(async () => {
    const { values } = parseFlags(Deno.args, {
      backbone: { type: "string" },
      data: { type: "string" },
      out: { type: "string" },
      jets: { type: "string" },
      batch: { type: "string", default: "256" },
      seed: { type: "string", default: "0" },
    }, HELP);
    if (!values.backbone || !values.data || !values.out) {
      throw new Error("--backbone, --data and --out are required (see --help)");
    }
    const gpu = await requestGpu();
    const bb = await Backbone.load(gpu, values.backbone as string);
    const loader = new JetLoader({
      files: [values.data as string],
      batchSize: Number(values.batch),
      features: bb.info.features,
      maxParticles: bb.info.maxParticles,
      truncate: true,
      preprocessor: bb.info.preprocessor,
      shuffle: false,
      loop: false,
      dropLast: false,
      maxJets: values.jets ? Number(values.jets) : undefined,
      seed: Number(values.seed),
    });
    const D = bb.info.encoder.dim, P = loader.nParticles, n = loader.length;
    const f = ArrayFileWriter.create(values.out as string, n, [
      { name: "jet_embedding", rowShape: [D], dtype: "f32" },
      { name: "particle_embedding", rowShape: [P, D], dtype: "f32" },
      { name: "mask", rowShape: [P], dtype: "i8" },
    ]);
    const progress = new Progress("embed", n);
    let row = 0, hasLabels = false;
    const labels = new Int32Array(n);
    for (let b = loader.next(); b; b = loader.next()) {
      const { particles, pooled } = await bb.embedBatch(b);
      const put = (name: string, data: ArrayLike<number>) => f.write(name, row, data);
      put("jet_embedding", pooled);
      put("particle_embedding", particles);
      put("mask", b.valid);
      if (b.labels) {
        hasLabels = true;
        labels.set(b.labels, row);
      }
      row += b.size;
      progress.update(row);
    }
    if (hasLabels) {
      f.add({ name: "labels", rowShape: [], dtype: "i64" });
      f.write("labels", 0, labels);
    }
    f.close();
    loader.close();
    progress.done(row, `wrote ${values.out}`);
    gpu.destroy();
  });
}
