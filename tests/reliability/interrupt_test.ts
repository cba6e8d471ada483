// An interrupted pre-training run says what it kept and how to continue, and exits 130.
import { writeJetFile } from "../../src/data/hdf5.ts";
import { synthJetClass } from "../../src/data/synth.ts";

const root = new URL("../../", import.meta.url).pathname;

Deno.test("Ctrl-C during pre-training prints the last checkpoint and the --resume command", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "mpm-interrupt-" });
  writeJetFile(`${tmp}/jets.h5`, synthJetClass(200, { seed: 1 }));
  const p = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${root}tasks/pretrain.ts`,
      "--data",
      "jets.h5",
      "--steps",
      "5000",
      "--batch",
      "8",
      "--tasks",
      "reg",
    ],
    cwd: tmp,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Wait for the first progress line, then interrupt.
  const reader = p.stdout.getReader();
  let out = "";
  while (!/step \d+\/5000/.test(out)) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  p.kill("SIGINT");
  reader.releaseLock();
  const r = await p.output();
  const err = new TextDecoder().decode(r.stderr);
  if (r.code !== 130) throw new Error(`exit ${r.code}:\n${out}\n${err}`);
  if (!err.includes("interrupted") || !err.includes("deno task pretrain --resume run")) {
    throw new Error(`message: ${err}`);
  }
  await Deno.remove(tmp, { recursive: true });
});
