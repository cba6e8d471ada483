// Following the README leaves the checkout clean: the README's commands, at tiny scale, in a
// fresh copy of the checkout, then `deno fmt --check` and `deno lint` there pass and git sees no
// new file (everything the commands wrote is ignored).
import { runTask } from "./reliability/_battery.ts";

const root = new URL("../", import.meta.url).pathname;

async function git(cwd: string, ...args: string[]): Promise<string> {
  const r = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "piped" }).output();
  if (!r.success) throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  return new TextDecoder().decode(r.stdout);
}

async function deno(cwd: string, ...args: string[]): Promise<{ ok: boolean; out: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { ok: r.success, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

Deno.test("the README's commands leave deno fmt, deno lint and git status of the checkout clean", async () => {
  const copy = await Deno.makeTempDir({ prefix: "mpm-readme-" });
  // The checkout as a user clones it: the tracked files (and what is being committed now).
  const tracked = (await git(root, "ls-files", "--cached", "--others", "--exclude-standard"))
    .trim().split("\n").filter(Boolean);
  for (const f of tracked) {
    try {
      await Deno.mkdir(`${copy}/${f.split("/").slice(0, -1).join("/")}`, { recursive: true });
      await Deno.copyFile(`${root}${f}`, `${copy}/${f}`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e; // deleted in the working tree
    }
  }
  await git(copy, "init", "-q");
  await git(copy, "add", "-A");
  const before = new Set((await git(copy, "diff", "--cached", "--name-only")).trim().split("\n"));

  const steps: [string, string[]][] = [
    ["data", ["synth", "--jets", "300", "--out", "jets.h5", "--seed", "1"]],
    ["data", ["synth", "--kind", "btag", "--jets", "200", "--out", "btag.h5"]],
    ["data", ["inspect", "jets.h5", "--plots", "plots/"]],
    ["data", ["fit", "jets.h5", "--out", "preprocessor.json"]],
    ["data", ["synth", "--jets", "200", "--out", "jets2.h5", "--seed", "2"]],
    ["data", ["combine", "jets.h5", "jets2.h5", "--out", "combined.h5"]],
    ["data", ["convert", "--from", "qg", "tests/fixtures/datasets/qg_jets.npz", "--out", "qg.h5"]],
    ["pretrain", ["--data", "jets.h5", "--steps", "2", "--batch", "8"]],
    ["kmeans", ["--data", "jets.h5", "--k", "8", "--jets", "200", "--out", "codebook.json"]],
    ["vqvae", ["--data", "jets.h5", "--steps", "2", "--batch", "32", "--out", "vqvae"]],
    ["pretrain", [
      "--data",
      "jets.h5",
      "--tasks",
      "ssfm",
      "--steps",
      "2",
      "--batch",
      "8",
      "--out",
      "run-ssfm",
    ]],
    ["generate", ["--run", "run-ssfm", "--jets", "16", "--data", "jets.h5"]],
    ["embed", [
      "--backbone",
      "run/backbone.safetensors",
      "--data",
      "jets.h5",
      "--out",
      "embeddings.h5",
    ]],
    ["finetune", [
      "--task",
      "classify",
      "--backbone",
      "run/backbone.safetensors",
      "--train",
      "jets.h5",
      "--steps",
      "4",
    ]],
    ["evaluate", ["--run", "finetune", "--test", "jets.h5"]],
  ];
  for (const [task, args] of steps) {
    const r = await runTask(copy, task, args);
    if (r.code !== 0) {
      throw new Error(`deno task ${task} ${args.join(" ")}: ${r.err}`);
    }
  }
  const fmt = await deno(copy, "fmt", "--check");
  if (!fmt.ok) {
    throw new Error(`deno fmt --check after the README's commands:\n${fmt.out.slice(0, 3000)}`);
  }
  const lint = await deno(copy, "lint");
  if (!lint.ok) throw new Error(`deno lint after the README's commands:\n${lint.out.slice(-2000)}`);
  await git(copy, "add", "-A");
  const after = (await git(copy, "diff", "--cached", "--name-only")).trim().split("\n");
  const added = after.filter((f) => !before.has(f));
  if (added.length) {
    throw new Error(`files the README's commands wrote that git would add: ${added.join(", ")}`);
  }
  await Deno.remove(copy, { recursive: true });
});
