// `deno task probe --backbone FILE [--data FILE...]`: a linear probe on 1000 labelled jets, on
// the frozen pre-trained backbone and on random backbones of the same shape.
import { parse, runCli } from "./_cli.ts";
import type { CommandSpec } from "./_flags.ts";
import { CACHE_FLAG, defaultData } from "./_synth.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import { probeStudy } from "../src/train/probe_study.ts";
import { checkOutputFile } from "../src/train/rundir.ts";
import { writeJsonAtomic } from "../src/io/files.ts";

export const SPEC = {
  name: "deno task probe",
  summary:
    `Trains a softmax-regression probe on the mean-pooled outputs of a frozen backbone (first N
jets of the train split) and reports its accuracy on the test split, next to the same probe on
randomly initialised backbones of the same shape (one per seed). Default data: the cached
synthetic set of \`deno task pretrain\`.`,
  flags: {
    "cache-dir": CACHE_FLAG,
    backbone: {
      type: "path",
      must: "file",
      default: "run/backbone.safetensors",
      help: "the pre-trained backbone",
      meta: "FILE",
    },
    data: {
      type: "path",
      multiple: true,
      must: "file",
      help: "labelled jet files",
      meta: "FILE...",
    },
    "train-jets": { type: "int", min: 10, default: 1000, help: "labelled jets for the probe" },
    "test-jets": { type: "int", min: 10, default: 4000, help: "test jets" },
    seeds: { type: "list", of: "int", min: 0, default: [0, 1, 2], help: "random-backbone seeds" },
    out: { type: "path", help: "write the result as JSON", meta: "FILE.json" },
    overwrite: { type: "bool", help: "replace --out if it exists" },
    "skip-bad-jets": { type: "bool", help: "skip and count bad jets instead of stopping" },
  },
} satisfies CommandSpec;

if (import.meta.main) {
  await runCli(async () => {
    const { values: v } = parse(Deno.args, SPEC);
    if (v.out) {
      await checkOutputFile(v.out, {
        overwrite: v.overwrite,
        inputs: [v.backbone, ...(v.data ?? [])],
      });
    }
    const files = v.data ?? [await defaultData(42, v["cache-dir"])];
    const gpu = await requestGpu();
    console.log(
      `probe: embedding ${v["train-jets"]} + ${
        v["test-jets"]
      } jets with the backbone and ${v.seeds.length} random backbones (${gpu.adapterName})`,
    );
    const r = await probeStudy(gpu, v.backbone, files, {
      trainJets: v["train-jets"],
      testJets: v["test-jets"],
      seeds: v.seeds,
      log: (line) => console.log(`  ${line}`),
      skipBadJets: v["skip-bad-jets"],
    });
    const mean = r.random.reduce((a, b) => a + b, 0) / r.random.length;
    const sd = Math.sqrt(
      r.random.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(r.random.length - 1, 1),
    );
    console.log(
      `linear probe, ${r.nTrain} labelled jets, ${r.nTest} test jets, ${r.classes} classes (chance ${
        (100 / r.classes).toFixed(1)
      } %):`,
    );
    console.log(`  pre-trained backbone: ${(100 * r.pretrained).toFixed(1)} %`);
    console.log(
      `  random backbones:     ${(100 * mean).toFixed(1)} ± ${(100 * sd).toFixed(1)} %  (${
        r.random.map((a) => (100 * a).toFixed(1)).join(", ")
      })`,
    );
    if (v.out) await writeJsonAtomic(v.out, { ...r, randomMean: mean, randomStd: sd });
    gpu.destroy();
  }, "deno task probe --help");
}
