// `deno task embed --backbone FILE --data FILE --out FILE.h5`: per-particle and per-jet encoder
// outputs of a pre-trained backbone for the jets of a file.
import { parse, Progress, runCli, UsageError } from "./_cli.ts";
import type { CommandSpec } from "./_flags.ts";
import { ArrayFileWriter } from "../src/data/hdf5_arrays.ts";
import { JetLoader } from "../src/data/loader.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import { QuantileTransform } from "../src/data/preprocess.ts";
import { Backbone } from "../src/mpm/backbone.ts";
import { checkOutputFile } from "../src/train/rundir.ts";

export const SPEC = {
  name: "deno task embed",
  summary: `Runs a backbone (from \`deno task pretrain\`) on full jets and writes, per jet:
  jet_embedding (N, D)          mean over registers and particles of the encoder output
  particle_embedding (N, P, D)  encoder output of every particle slot (zeros at padding)
  mask (N, P), and labels (N,) when the data has them.`,
  flags: {
    backbone: { type: "path", must: "file", help: "the backbone", meta: "FILE" },
    data: { type: "path", must: "file", help: "jet file (HDF5)", meta: "FILE" },
    out: { type: "path", help: "output HDF5 file", meta: "FILE.h5" },
    jets: { type: "int", min: 1, help: "embed only the first N jets" },
    batch: { type: "int", min: 1, default: 256, help: "jets per batch" },
    seed: {
      type: "int",
      min: 0,
      default: 0,
      help: "seed of the neutral-particle noise of the preprocessing",
    },
    "no-neutral-noise": {
      type: "bool",
      help: "map neutral particles' impact parameters like the others (no training noise)",
    },
    overwrite: { type: "bool", help: "replace --out if it exists" },
    "skip-bad-jets": { type: "bool", help: "skip and count bad jets instead of stopping" },
    truncate: {
      type: "bool",
      help: "keep the hardest particles of jets longer than the backbone allows",
    },
  },
} satisfies CommandSpec;

if (import.meta.main) {
  await runCli(async () => {
    const { values: v } = parse(Deno.args, SPEC);
    if (!v.backbone || !v.data || !v.out) {
      throw new UsageError("--backbone, --data and --out are required");
    }
    await checkOutputFile(v.out, { overwrite: v.overwrite, inputs: [v.data, v.backbone] });
    const gpu = await requestGpu();
    const bb = await Backbone.load(gpu, v.backbone);
    const pre = bb.info.preprocessor;
    if (v["no-neutral-noise"] && pre instanceof QuantileTransform) pre.neutralNoise = false;
    const loader = new JetLoader({
      files: [v.data],
      batchSize: v.batch,
      features: bb.info.features,
      maxParticles: bb.info.maxParticles,
      truncate: v.truncate,
      onBadJet: v["skip-bad-jets"] ? "skip" : "error",
      preprocessor: bb.info.preprocessor,
      shuffle: false,
      loop: false,
      dropLast: false,
      maxJets: v.jets,
      seed: v.seed,
    });
    const D = bb.info.encoder.dim, P = loader.nParticles, n = loader.length;
    const f = ArrayFileWriter.create(v.out, n, [
      { name: "jet_embedding", rowShape: [D], dtype: "f32" },
      { name: "particle_embedding", rowShape: [P, D], dtype: "f32" },
      { name: "mask", rowShape: [P], dtype: "i8" },
    ]);
    const progress = new Progress("embed", n);
    let row = 0, hasLabels = false;
    const labels = new Int32Array(n);
    try {
      // One batch in flight: the next batch is read and recorded while the device embeds this
      // one and copies it back.
      let b = loader.next(), pending = b ? bb.embedBatch(b) : null;
      while (b && pending) {
        const next = loader.next(), ahead = next ? bb.embedBatch(next) : null;
        const { particles, pooled } = await pending;
        f.write("jet_embedding", row, pooled);
        f.write("particle_embedding", row, particles);
        f.write("mask", row, b.valid);
        if (b.labels) {
          hasLabels = true;
          labels.set(b.labels, row);
        }
        row += b.size;
        progress.update(row);
        [b, pending] = [next, ahead];
      }
      if (hasLabels) {
        f.add({ name: "labels", rowShape: [], dtype: "i64" });
        f.write("labels", 0, labels);
      }
      f.close(row); // fewer rows than jets when bad jets were skipped
    } catch (e) {
      f.abort();
      throw e;
    }
    loader.close();
    const skipped = Object.entries(loader.skipped);
    progress.done(
      row,
      `wrote ${v.out}${
        skipped.length ? `; skipped ${skipped.map(([k, c]) => `${c} ${k}`).join(", ")}` : ""
      }`,
    );
    gpu.destroy();
  }, "deno task embed --help");
}
