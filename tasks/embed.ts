// `deno task embed --backbone FILE --data FILE --out FILE.h5`: per-particle and per-jet encoder
// outputs of a pre-trained backbone for the jets of a file.
import h5wasm from "h5wasm";
import { parseFlags, Progress, runCli } from "./_cli.ts";
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
    await h5wasm.ready;
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
    const tmp = `${values.out}.partial-${Deno.pid}`;
    const f = new h5wasm.File(tmp, "w");
    const make = (name: string, dims: number[], dtype: string, data: ArrayBufferView) =>
      f.create_dataset({ name, data: data as unknown as Float32Array, shape: [n, ...dims], dtype });
    make("jet_embedding", [D], "<f", new Float32Array(n * D));
    make("particle_embedding", [P, D], "<f", new Float32Array(n * P * D));
    make("mask", [P], "|b1", new Int8Array(n * P));
    const progress = new Progress("embed", n);
    let row = 0, hasLabels = false;
    const labels = new Int32Array(n);
    for (let b = loader.next(); b; b = loader.next()) {
      const { particles, pooled } = await bb.embedBatch(b);
      const put = (name: string, data: ArrayBufferView) =>
        (f.get(name) as InstanceType<typeof h5wasm.Dataset>).write_slice(
          [[row, row + b.size]],
          data as unknown as Float32Array,
        );
      put("jet_embedding", pooled);
      put("particle_embedding", particles);
      put("mask", Int8Array.from(b.valid));
      if (b.labels) {
        hasLabels = true;
        labels.set(b.labels, row);
      }
      row += b.size;
      progress.update(row);
    }
    if (hasLabels) {
      f.create_dataset({
        name: "labels",
        data: BigInt64Array.from(labels, (v) => BigInt(v)),
        shape: [n],
        dtype: "<q",
      });
    }
    f.close();
    await Deno.rename(tmp, values.out as string);
    loader.close();
    progress.done(row, `wrote ${values.out}`);
    gpu.destroy();
  });
}
