// An interrupted pre-training run says what it kept and how to continue, and exits 130.
import { writeJetFile } from "../../src/data/hdf5.ts";
import { synthJetClass } from "../../src/data/synth.ts";
import { preset } from "../../src/mpm/config.ts";

const root = new URL("../../", import.meta.url).pathname;

/** Starts a pre-training run in `tmp`, interrupts it after `progress` shows, returns stderr. */
async function interrupt(tmp: string, extra: string[], progress: RegExp): Promise<string> {
  const p = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}tasks/pretrain.ts`, "--data", "jets.h5", ...extra],
    cwd: tmp,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Wait for the progress line, then interrupt.
  const reader = p.stdout.getReader();
  let out = "";
  while (!progress.test(out)) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  p.kill("SIGINT");
  reader.releaseLock();
  const r = await p.output();
  const err = new TextDecoder().decode(r.stderr);
  if (r.code !== 130) throw new Error(`exit ${r.code}:\n${out}\n${err}`);
  if (!err.includes("interrupted")) throw new Error(`message: ${err}`);
  return err;
}

Deno.test("Ctrl-C during pre-training prints the last checkpoint and the --resume command, or, before any checkpoint, that there is nothing to resume", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "mpm-interrupt-" });
  writeJetFile(`${tmp}/jets.h5`, synthJetClass(200, { seed: 1 }));
  // Before the first checkpoint (the small preset writes one every 100 steps).
  const early = await interrupt(
    tmp,
    ["--steps", "5000", "--batch", "8", "--tasks", "reg"],
    /step \d+\/5000/,
  );
  if (!early.includes("nothing to resume") || !early.includes("--overwrite")) {
    throw new Error(`message: ${early}`);
  }
  // After one: a checkpoint every 2 steps, interrupted once step 10 is logged.
  const cfg = preset("small");
  cfg.tasks = { reg: { weight: 1 } };
  cfg.train = { ...cfg.train, steps: 5000, batch: 8, checkpointEvery: 2, logEvery: 10 };
  await Deno.writeTextFile(`${tmp}/cfg.json`, JSON.stringify(cfg));
  const late = await interrupt(tmp, ["--config", "cfg.json", "--out", "later"], /step 10\/5000/);
  if (
    !/last complete checkpoint is step \d+/.test(late) ||
    !late.includes("deno task pretrain --resume later")
  ) {
    throw new Error(`message: ${late}`);
  }
  await Deno.remove(tmp, { recursive: true });
});
