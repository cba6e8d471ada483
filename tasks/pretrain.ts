// `deno task pretrain`: not yet available; the "MPMv2 model and pre-training" issue implements it.
import { parseFlags, runCli } from "./_cli.ts";

const HELP = `
deno task pretrain [--data FILE...] [--val FILE] [--preset small|paper] [--tasks id,reg,...] [--steps N] [--batch B] [--mask-fraction F] [--seed S] [--out DIR] [--resume DIR] [--config FILE.json]

Not yet available in this version: the "MPMv2 model and pre-training" work adds it. The training core
(GPU runtime, kernels, autograd, AdamW) is ready; see README.md.
`;

if (import.meta.main) {
  await runCli(async () => {
    parseFlags(Deno.args.filter((a) => a === "--help" || a === "--debug"), {}, HELP);
    console.log(
      `pretrain: not yet available in @mpm/webgpu 0.1.0 (coming with "MPMv2 model and pre-training").`,
    );
    console.log("Try `deno task test` or `deno task bench` meanwhile.");
    await Promise.resolve();
  });
}
