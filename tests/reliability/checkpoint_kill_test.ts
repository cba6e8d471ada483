// Crash consistency: a run killed (SIGKILL) at every file creation of a checkpoint resumes, with no
// --data, and ends bit-exact with the uninterrupted run; a run killed before its first complete
// checkpoint is refused clearly.
import { preset } from "../../src/mpm/config.ts";
import { writeJetFile } from "../../src/data/hdf5.ts";
import { synthJetClass } from "../../src/data/synth.ts";
import { decodeSafetensors } from "../../src/io/safetensors.ts";
import { MATMUL_KERNELS } from "../../src/kernels/matmul_tuner.ts";
import { runTask } from "./_battery.ts";

const tmp = await Deno.makeTempDir({ prefix: "mpm-kill-" });
writeJetFile(`${tmp}/jets.h5`, synthJetClass(300, { seed: 8 }));
const cfg = preset("small");
cfg.encoder = { ...cfg.encoder, dim: 16, layers: 1, heads: 2, registers: 2 };
cfg.decoder = { ...cfg.decoder, dim: 8, layers: 1, heads: 2 };
cfg.tasks = { reg: { weight: 1 } };
cfg.train = {
  ...cfg.train,
  steps: 6,
  batch: 8,
  warmup: 1,
  logEvery: 4, // not a multiple of checkpointEvery: steps logged only at a checkpoint must survive
  valEvery: 6,
  valBatches: 1,
  checkpointEvery: 3,
};
await Deno.writeTextFile(`${tmp}/config.json`, JSON.stringify(cfg));
const args = (out: string) => ["--config", "config.json", "--data", "jets.h5", "--out", out];

/** File creations and renames a checkpoint makes (fault points): model, optim, backbone, state,
 * folder rename, manifest switch, four exports. */
const POINTS_PER_CHECKPOINT = 10;

/** The trained weights and the training-loss rows (without the timing column). */
async function outcome(dir: string): Promise<{ weights: string; losses: string }> {
  const w = decodeSafetensors(await Deno.readFile(`${dir}/model.safetensors`));
  const names = [...w.tensors.keys()].sort();
  const h = new Uint8Array(
    await crypto.subtle.digest(
      "SHA-256",
      new Uint8Array(names.flatMap((n) => [...new Uint8Array(w.tensors.get(n)!.data.buffer)])),
    ),
  );
  const rows = (await Deno.readTextFile(`${dir}/metrics.csv`)).trim().split("\n");
  const losses = rows.filter((r) => r.split(",")[1] === "train").map((r) =>
    r.split(",").slice(0, -1).join(",")
  );
  return { weights: [...h].join(","), losses: losses.join("\n") };
}

const ref = await runTask(tmp, "pretrain", args("ref"));
if (ref.code !== 0) throw new Error(`reference run: ${ref.err}`);
const want = await outcome(`${tmp}/ref`);

async function killThenResume(k: number): Promise<string> {
  const out = `kill${k}`;
  const killed = await runTask(tmp, "pretrain", args(out), { MPM_FAULT_AT: String(k) });
  if (killed.code === 0) return `fault point ${k}: the run was not killed`;
  if (!killed.err.includes(`MPM_FAULT_AT=${k}`)) {
    return `fault point ${k}: died otherwise: ${killed.err}`;
  }
  const resumed = await runTask(tmp, "pretrain", ["--resume", out]);
  if (resumed.code !== 0) return `fault point ${k}: resume failed: ${resumed.err}`;
  const got = await outcome(`${tmp}/${out}`);
  if (got.weights !== want.weights) {
    return `fault point ${k}: weights differ from the uninterrupted run`;
  }
  if (got.losses !== want.losses) {
    return `fault point ${k}: loss curve differs:\n${got.losses}\nvs\n${want.losses}`;
  }
  await Deno.remove(`${tmp}/${out}`, { recursive: true });
  return "";
}

Deno.test("a run killed at every file creation of a checkpoint resumes without --data and ends bit-exact", async () => {
  // Points 1..10 belong to the checkpoint at step 3, 11..20 to the one at step 6.
  const problems: string[] = [];
  for (let k = POINTS_PER_CHECKPOINT + 1; k <= 2 * POINTS_PER_CHECKPOINT; k++) {
    const p = await killThenResume(k);
    if (p) problems.push(p);
  }
  if (problems.length) throw new Error(problems.join("\n"));
});

Deno.test("resume without --data after the first checkpoint is bit-exact; before it, resume is refused clearly", async () => {
  // Killed right after the first checkpoint's manifest switch: resumes from step 3. Steps 1-3 were
  // due in metrics.csv only at step 4 (logEvery 4): the checkpoint logs them first, so the
  // resumed run's loss curve is complete.
  const p = await killThenResume(6);
  if (p) throw new Error(p);
  // Killed before the first checkpoint completed: nothing to resume, and the message says so.
  const killed = await runTask(tmp, "pretrain", args("early"), { MPM_FAULT_AT: "2" });
  if (killed.code === 0) throw new Error("not killed");
  const r = await runTask(tmp, "pretrain", ["--resume", "early"]);
  if (r.code !== 1 || !r.err.includes("no checkpoint") || !r.err.includes("--overwrite")) {
    throw new Error(r.err);
  }
  // ...and the leftover temporary checkpoint folder does not stop a fresh start.
  const again = await runTask(tmp, "pretrain", [...args("early"), "--overwrite"]);
  if (again.code !== 0) throw new Error(again.err);
  const got = await outcome(`${tmp}/early`);
  if (got.weights !== want.weights) throw new Error("a fresh start differs from the reference");
});

Deno.test("on the storage path a run tunes its matmuls after the first step, keeps tuning.json, and a killed run resumes with those choices, bit-exact", async () => {
  const env = { MPM_MATMUL: "storage" };
  const r = await runTask(tmp, "pretrain", args("sref"), env);
  if (r.code !== 0 || !r.out.includes("tuned the matmul for")) {
    throw new Error(`storage-path run: ${r.code}\n${r.out}\n${r.err}`);
  }
  const tuning = JSON.parse(await Deno.readTextFile(`${tmp}/sref/tuning.json`));
  // Which kernel wins a class is a timing (the vec4-load kernels can win on lavapipe too): every
  // entry names a storage kernel, and there is one per class the run met.
  const kernels: readonly string[] = MATMUL_KERNELS;
  const entries = Object.values(tuning) as string[];
  if (entries.length === 0 || !entries.every((k) => kernels.includes(k))) {
    throw new Error(`tuning.json: ${JSON.stringify(tuning)}`);
  }
  const storageWant = await outcome(`${tmp}/sref`);
  // Killed at the first fault point of the second checkpoint, then resumed on the same path.
  const killed = await runTask(tmp, "pretrain", args("skill"), { ...env, MPM_FAULT_AT: "11" });
  if (killed.code === 0) throw new Error("the run was not killed");
  if (!(await Deno.stat(`${tmp}/skill/tuning.json`).catch(() => null))) {
    throw new Error("the killed run left no tuning.json");
  }
  const resumed = await runTask(tmp, "pretrain", ["--resume", "skill"], env);
  if (resumed.code !== 0) throw new Error(`resume: ${resumed.err}`);
  if (resumed.out.includes("tuned the matmul for")) {
    throw new Error("the resumed run tuned again instead of using tuning.json");
  }
  const got = await outcome(`${tmp}/skill`);
  if (got.weights !== storageWant.weights || got.losses !== storageWant.losses) {
    throw new Error(
      `the resumed storage-path run differs:\n${got.losses}\nvs\n${storageWant.losses}`,
    );
  }
  // A damaged tuning file is refused, naming it.
  await Deno.writeTextFile(`${tmp}/skill/tuning.json`, '{"4x4x4 b1 NN": "fastest"}');
  const bad = await runTask(tmp, "pretrain", ["--resume", "skill", "--steps", "7"], env);
  if (bad.code === 0 || !bad.err.includes("tuning.json") || !bad.err.includes("delete it")) {
    throw new Error(`a bad tuning.json was accepted: ${bad.code}\n${bad.err}`);
  }
  for (const d of ["sref", "skill"]) await Deno.remove(`${tmp}/${d}`, { recursive: true });
});
