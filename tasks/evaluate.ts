// `deno task evaluate`: not yet available; the "Downstream test bed" issue implements it.
import { parseFlags, runCli } from "./_cli.ts";

const HELP = `
deno task evaluate --run DIR --test FILE [--out DIR] | --sweep ...

Not yet available in this version: the "Downstream test bed" work adds it. The training core
(GPU runtime, kernels, autograd, AdamW) is ready; see README.md.
`;

if (import.meta.main) {
  await runCli(async () => {
    parseFlags(Deno.args.filter((a) => a === "--help" || a === "--debug"), {}, HELP);
    console.log(
      `evaluate: not yet available in @mpm/webgpu 0.1.0 (coming with "Downstream test bed").`,
    );
    console.log("Try `deno task test` or `deno task bench` meanwhile.");
    await Promise.resolve();
  });
}
