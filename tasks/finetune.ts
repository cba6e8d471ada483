// `deno task finetune`: not yet available; the "Downstream test bed" issue implements it.
import { parseFlags, runCli } from "./_cli.ts";

const HELP = `
deno task finetune --task classify|cwola|btag|vertex|trackid --backbone FILE|random --train FILE --val FILE --test FILE [--n-train N] [--frozen] [--steps N] [--seed S] [--out DIR]

Not yet available in this version: the "Downstream test bed" work adds it. The training core
(GPU runtime, kernels, autograd, AdamW) is ready; see README.md.
`;

if (import.meta.main) {
  await runCli(async () => {
    parseFlags(Deno.args.filter((a) => a === "--help" || a === "--debug"), {}, HELP);
    console.log(
      `finetune: not yet available in @mpm/webgpu 0.1.0 (coming with "Downstream test bed").`,
    );
    console.log("Try `deno task test` or `deno task bench` meanwhile.");
    await Promise.resolve();
  });
}
