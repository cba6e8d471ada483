// `deno task probe --backbone FILE [--data FILE...]`: a linear probe on 1000 labelled jets, on
// the frozen pre-trained backbone and on random backbones of the same shape.
import { parseFlags, runCli } from "./_cli.ts";
import { requestGpu } from "../src/gpu/gpu.ts";
import { probeStudy } from "../src/train/probe_study.ts";

const HELP = `
deno task probe --backbone FILE [--data FILE...] [--train-jets 1000] [--test-jets 4000]
                [--seeds 0,1,2] [--out FILE.json]

Trains a softmax-regression probe on the mean-pooled outputs of a frozen backbone (first N
jets of the train split) and reports its accuracy on the test split, next to the same probe on
randomly initialised backbones of the same shape (one per seed). Default data: the cached
synthetic set of \`deno task pretrain\`.
`;

if (import.meta.main) {
  await runCli(async () => {
    const { values } = parseFlags(Deno.args, {
      backbone: { type: "string", default: "run/backbone.safetensors" },
      data: { type: "string", multiple: true },
      "train-jets": { type: "string", default: "1000" },
      "test-jets": { type: "string", default: "4000" },
      seeds: { type: "string", default: "0,1,2" },
      out: { type: "string" },
      seed: { type: "string" },
    }, HELP);
    const files = (values.data as string[] | undefined) ??
      [".cache/synth/jetclass_60000_seed42.h5"];
    const gpu = await requestGpu();
    const r = await probeStudy(gpu, values.backbone as string, files, {
      trainJets: Number(values["train-jets"]),
      testJets: Number(values["test-jets"]),
      seeds: (values.seeds as string).split(",").map(Number),
    });
    const mean = r.random.reduce((a, b) => a + b, 0) / r.random.length;
    const sd = Math.sqrt(
      r.random.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(r.random.length - 1, 1),
    );
    console.log(
      `linear probe, ${r.nTrain} labelled jets, ${r.nTest} test jets, ${r.classes} classes:`,
    );
    console.log(`  pre-trained backbone: ${(100 * r.pretrained).toFixed(1)} %`);
    console.log(
      `  random backbones:     ${(100 * mean).toFixed(1)} ± ${(100 * sd).toFixed(1)} %  (${
        r.random.map((a) => (100 * a).toFixed(1)).join(", ")
      })`,
    );
    if (values.out) {
      await Deno.writeTextFile(
        values.out as string,
        JSON.stringify({ ...r, randomMean: mean, randomStd: sd }, null, 2),
      );
    }
    gpu.destroy();
  });
}
