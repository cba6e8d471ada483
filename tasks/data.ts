// `deno task data`: not yet available; the "Jet data" issue implements it.
import { parseFlags, runCli } from "./_cli.ts";

const HELP = `
deno task data synth|convert|inspect ...

Not yet available in this version: the "Jet data" work adds it. The training core
(GPU runtime, kernels, autograd, AdamW) is ready; see README.md.
`;

if (import.meta.main) {
  await runCli(async () => {
    parseFlags(Deno.args.filter((a) => a === "--help" || a === "--debug"), {}, HELP);
    console.log(`data: not yet available in @mpm/webgpu 0.1.0 (coming with "Jet data").`);
    console.log("Try `deno task test` or `deno task bench` meanwhile.");
    await Promise.resolve();
  });
}
