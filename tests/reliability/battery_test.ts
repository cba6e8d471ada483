// The bad-input battery: flags, run folders, outputs, checkpoints and data files, each refused
// with a message naming the thing and the fix, no stack trace, and nothing in the folder changed.
import { writeJetFile } from "../../src/data/hdf5.ts";
import { synthBTag, synthJetClass } from "../../src/data/synth.ts";
import type { JetBlock } from "../../src/data/types.ts";
import { battery, type Case, runTask } from "./_battery.ts";

const tmp = await Deno.makeTempDir({ prefix: "mpm-battery-" });
const base = synthJetClass(300, { seed: 3 });
writeJetFile(`${tmp}/jets.h5`, base);
writeJetFile(`${tmp}/other.h5`, synthJetClass(300, { seed: 4 }));
writeJetFile(`${tmp}/bt.h5`, synthBTag(200, { seed: 5 }));
await Deno.copyFile(`${tmp}/jets.h5`, `${tmp}/exists.h5`);
await Deno.writeTextFile(`${tmp}/exists.json`, "{}\n");
await Deno.mkdir(`${tmp}/notes`);
await Deno.writeTextFile(`${tmp}/notes/todo.txt`, "not a run\n");

/** A copy of the base jets with one change applied to jet 5. */
function bad(name: string, edit: (b: JetBlock) => void): string {
  const b: JetBlock = structuredClone(base);
  edit(b);
  writeJetFile(`${tmp}/${name}.h5`, b);
  return `${name}.h5`;
}
const P = base.nParticles, F = base.features.length, j = 5;
bad("types", (b) => (b.ids![j * P] = 9));
bad("neglabel", (b) => (b.labels![j] = -1));
bad("biglabel", (b) => (b.labels![j] = 100000));
bad("negpt", (b) => (b.csts[j * P * F] = -3));
bad("zeroslot", (b) => {
  const k = b.valid.subarray(j * P, (j + 1) * P).indexOf(0);
  b.valid[j * P + k] = 1; // a padded (all-zero) slot marked real
});
bad("nan", (b) => (b.csts[j * P * F + 1] = NaN));
{
  // Jets of 150 slots, one with 140 particles (the model allows 128).
  const n = 20, L = 150, src = synthJetClass(n, { seed: 6 });
  const long: JetBlock = {
    ...src,
    nParticles: L,
    csts: new Float32Array(n * L * F),
    valid: new Uint8Array(n * L),
    ids: new Int32Array(n * L),
  };
  for (let a = 0; a < n; a++) {
    for (let k = 0; k < P; k++) {
      long.csts.set(src.csts.subarray((a * P + k) * F, (a * P + k + 1) * F), (a * L + k) * F);
      long.valid[a * L + k] = src.valid[a * P + k];
      long.ids![a * L + k] = src.ids![a * P + k];
    }
  }
  for (let k = 0; k < 140; k++) {
    long.valid[3 * L + k] = 1;
    long.csts[(3 * L + k) * F] = 1 + 140 - k;
    long.csts[(3 * L + k) * F + 1] = 0.01 * k;
  }
  writeJetFile(`${tmp}/long.h5`, long);
}
writeJetFile(`${tmp}/empty.h5`, {
  ...base,
  n: 0,
  csts: new Float32Array(0),
  valid: new Uint8Array(0),
  ids: new Int32Array(0),
  labels: new Int32Array(0),
  jets: new Float32Array(0),
});
await Deno.writeFile(
  `${tmp}/corrupt.h5`,
  new TextEncoder().encode("this is not an HDF5 file at all"),
);
const h5py = await new Deno.Command("/usr/bin/python3", {
  args: [
    "-c",
    `import h5py, numpy as np
with h5py.File("${tmp}/lzf.h5", "w") as f:
    f.create_dataset("csts", data=np.ones((10, 4, 3), dtype="f4"), compression="lzf")
    f.create_dataset("mask", data=np.ones((10, 4), dtype=bool))`,
  ],
  stdout: "null",
  stderr: "null",
}).output().catch(() => ({ success: false }));
if (!h5py.success) console.log("battery: /usr/bin/python3 has no h5py: the lzf case is left out");

// A small finished run to refuse, resume and damage.
const small = ["--data", "jets.h5", "--steps", "4", "--batch", "8", "--tasks", "reg"];
const r = await runTask(tmp, "pretrain", [...small, "--out", "run"]);
if (r.code !== 0) throw new Error(`setup run: ${r.err}`);
await Deno.mkdir(`${tmp}/ft`);
await Deno.writeTextFile(
  `${tmp}/ft/run.json`,
  JSON.stringify({ format: "mpm-webgpu-run/1", kind: "finetune", inputs: {} }),
);
await Deno.writeTextFile(`${tmp}/ft/finetune.json`, "{}");
await Deno.mkdir(`${tmp}/half`);
await Deno.writeTextFile(
  `${tmp}/half/config.json`,
  await Deno.readTextFile(`${tmp}/run/config.json`),
);

const pre = (args: string[], says: string[], code: 1 | 2 = 2, name = args.join(" ")): Case => ({
  name,
  task: "pretrain",
  args,
  code,
  says,
});

Deno.test("battery: every flag value is checked before any work, naming the flag, the value and what is allowed", async () => {
  await battery(tmp, [
    pre(["--steps", "abc"], ["--steps", '"abc"', "integer >= 1"]),
    pre(["--steps", "-5"], ["--steps", "integer >= 1"]),
    pre(["--steps", "2.5"], ["--steps", "integer"]),
    pre(["--steps"], ["--steps needs a value"]),
    pre(["--seed", "abc"], ["--seed", "integer >= 0"]),
    pre(["--batch", "0"], ["--batch", ">= 1"]),
    pre(["--mask-fraction", "0"], ["--mask-fraction", "> 0"]),
    pre(["--mask-fraction", "1.5"], ["--mask-fraction", "<= 0.95"]),
    pre(["--lr", "-1"], ["--lr", "> 0"]),
    pre(["--bert-head"], ["--bert-head needs --objective bert"]),
    pre(["--tasks", "id,,reg"], ["--tasks", "empty"]),
    pre(["--tasks", "id,magic"], ["--tasks", '"magic"', "available: id, reg"]),
    pre(["--drop-range", "0.5"], ["--drop-range", "list of 2"]),
    pre(["--preset", "huge"], ["--preset", "small, paper"]),
    pre(["--data", "missing.h5"], ["missing.h5", "no such file"]),
    pre(["--stepz", "3"], ["--stepz", "did you mean --steps"]),
    pre(["--classes", "1"], ["--classes", ">= 2"]),
    pre(["--precision", "f64"], ["--precision", '"f64"', "f16"]),
    {
      name: "finetune negative lr",
      task: "finetune",
      args: ["--train", "jets.h5", "--lr=-1"],
      code: 2,
      says: ["--lr", "> 0"],
    },
    {
      name: "finetune unknown task",
      task: "finetune",
      args: ["--task", "magic", "--train", "jets.h5"],
      code: 2,
      says: ["--task", "classify"],
    },
    {
      name: "finetune n-train text",
      task: "finetune",
      args: ["--train", "jets.h5", "--n-train", "abc"],
      code: 2,
      says: ["--n-train", "integer"],
    },
    {
      name: "frozen and finetune",
      task: "finetune",
      args: ["--train", "jets.h5", "--frozen", "--finetune"],
      code: 2,
      says: ["--frozen", "--finetune"],
    },
    { name: "finetune without train", task: "finetune", args: [], code: 2, says: ["--train"] },
    {
      name: "sweep sizes text",
      task: "evaluate",
      args: ["--sweep", "--train", "jets.h5", "--sizes", "abc"],
      code: 2,
      says: ["--sizes", "integers"],
    },
    {
      name: "sweep seeds text",
      task: "evaluate",
      args: ["--sweep", "--train", "jets.h5", "--seeds", "1,x"],
      code: 2,
      says: ["--seeds"],
    },
    {
      name: "evaluate missing run",
      task: "evaluate",
      args: ["--run", "nowhere", "--test", "jets.h5"],
      code: 2,
      says: ["--run nowhere"],
    },
    {
      name: "generate zero jets",
      task: "generate",
      args: ["--run", "run", "--jets", "0"],
      code: 2,
      says: ["--jets", ">= 1"],
    },
    {
      name: "embed without flags",
      task: "embed",
      args: [],
      code: 2,
      says: ["--backbone", "--data", "--out"],
    },
    {
      name: "synth negative jets",
      task: "data",
      args: ["synth", "--jets", "-1"],
      code: 2,
      says: ["--jets", ">= 1"],
    },
    {
      name: "synth unknown kind",
      task: "data",
      args: ["synth", "--kind", "foo"],
      code: 2,
      says: ["--kind", "jetclass, btag"],
    },
    {
      name: "kmeans k too small",
      task: "kmeans",
      args: ["--data", "jets.h5", "--out", "cb.json", "--k", "1"],
      code: 2,
      says: ["--k", ">= 2"],
    },
    {
      name: "vqvae fractional steps",
      task: "vqvae",
      args: ["--steps", "1.5"],
      code: 2,
      says: ["--steps", "integer"],
    },
    {
      name: "probe text jets",
      task: "probe",
      args: ["--train-jets", "abc"],
      code: 2,
      says: ["--train-jets"],
    },
    {
      name: "bench unknown only",
      task: "bench",
      args: ["--only", "foo"],
      code: 2,
      says: [`--only "foo"`, "gpu, ssfm, presets, profile, data"],
    },
    {
      name: "data unknown command",
      task: "data",
      args: ["frobnicate"],
      code: 2,
      says: ["frobnicate", "synth, convert, combine, inspect or fit"],
    },
  ]);
});

Deno.test("battery: run folders and outputs are never replaced or mixed unless asked", async () => {
  await battery(tmp, [
    pre([...small, "--out", "run"], [
      "--out run already holds a run",
      "--overwrite",
      "--resume run",
    ], 1),
    pre([...small, "--out", "notes", "--overwrite"], ["not a run", "new or empty folder"], 1),
    {
      name: "no adapter: a run with --overwrite leaves the old run untouched",
      task: "pretrain",
      args: [...small, "--out", "run", "--overwrite"],
      code: 1,
      says: ["No WebGPU adapter", "mesa-vulkan-drivers"],
      env: {
        DENO_WEBGPU_BACKEND: "vulkan",
        VK_DRIVER_FILES: "/nonexistent/icd.json",
        VK_ICD_FILENAMES: "/nonexistent/icd.json",
      },
    },
    pre(
      ["--data", "nan.h5", "--steps", "2", "--batch", "8", "--out", "run", "--overwrite"],
      ["nan.h5", "NaN", "--skip-bad-jets"],
      1,
      "a failing run with --overwrite leaves the old run untouched",
    ),
    pre(["--resume", "half"], ["not a complete pretrain run", "metrics.csv"], 1),
    pre(["--resume", "ft"], ["a finetune run, not a pretrain run"], 1),
    pre(["--resume", "run", "--batch", "8"], ["--batch cannot change a resumed run"]),
    pre(["--resume", "run", "--data", "other.h5"], [
      "not the data the run started with",
      "--data-changed",
    ], 1),
    {
      name: "finetune into a pre-training run",
      task: "finetune",
      args: ["--train", "jets.h5", "--backbone", "run/backbone.safetensors", "--out", "run"],
      code: 1,
      says: ["--out run already holds a run"],
    },
    {
      name: "embed over its input",
      task: "embed",
      args: ["--backbone", "run/backbone.safetensors", "--data", "jets.h5", "--out", "jets.h5"],
      code: 1,
      says: ["--out jets.h5 is also an input"],
    },
    {
      name: "embed over a file",
      task: "embed",
      args: ["--backbone", "run/backbone.safetensors", "--data", "jets.h5", "--out", "exists.h5"],
      code: 1,
      says: ["exists.h5 exists", "--overwrite"],
    },
    {
      name: "synth over a file",
      task: "data",
      args: ["synth", "--jets", "10", "--out", "exists.h5"],
      code: 1,
      says: ["exists.h5 exists", "--overwrite"],
    },
    {
      name: "fit over a file",
      task: "data",
      args: ["fit", "jets.h5", "--out", "exists.json"],
      code: 1,
      says: ["exists.json exists"],
    },
    {
      name: "fit over its input",
      task: "data",
      args: ["fit", "jets.h5", "--out", "jets.h5", "--overwrite"],
      code: 1,
      says: ["also an input"],
    },
    {
      name: "kmeans over a file",
      task: "kmeans",
      args: ["--data", "jets.h5", "--out", "exists.json"],
      code: 1,
      says: ["exists.json exists"],
    },
    {
      name: "generate over a file",
      task: "generate",
      args: ["--run", "run", "--out", "exists.h5", "--no-report"],
      code: 1,
      says: ["exists.h5 exists"],
    },
    {
      name: "probe result over a file",
      task: "probe",
      args: ["--backbone", "run/backbone.safetensors", "--data", "jets.h5", "--out", "exists.json"],
      code: 1,
      says: ["exists.json exists"],
    },
    {
      name: "vqvae into a run",
      task: "vqvae",
      args: ["--data", "jets.h5", "--out", "run"],
      code: 1,
      says: ["already holds a run"],
    },
  ]);
});

Deno.test("battery: bad data is refused at read time, naming the file, the dataset, the row and the fix", async () => {
  const run = (file: string, says: string[], extra: string[] = []) =>
    pre(
      [
        "--data",
        file,
        "--steps",
        "1",
        "--batch",
        "8",
        "--tasks",
        "reg,probe",
        "--out",
        "fresh",
        ...extra,
      ],
      says,
      1,
      `data ${file}`,
    );
  const cases: Case[] = [
    run("types.h5", ["types.h5", "csts_id", "row 5", "type 9", "0-7"]),
    run("neglabel.h5", ["neglabel.h5", "labels", "row 5", "negative"]),
    run("biglabel.h5", ["biglabel.h5", "row 5", "100000", "--classes"]),
    run("jets.h5", ["jets.h5", "outside the 3 classes", "--classes"], ["--classes", "3"]),
    run("negpt.h5", ["negpt.h5", "row 5", "pt -3", "pt > 0"]),
    run("zeroslot.h5", ["zeroslot.h5", "row 5", "all its features are 0", "mask"]),
    run("nan.h5", ["nan.h5", "row 5", "NaN", "--skip-bad-jets"]),
    run("long.h5", [
      "long.h5",
      "row 3",
      "140 particles",
      "allows 128",
      "--truncate",
      "--skip-bad-jets",
    ]),
    run("empty.h5", ["empty.h5", "holds no jets"]),
    run("corrupt.h5", ["corrupt.h5", "not a readable HDF5 file", "re-create"]),
    run("bt.h5", ["bt.h5"], ["--val", "jets.h5"]),
  ];
  cases.pop(); // bt.h5 with a JetClass validation file is valid data: covered by the layout case
  cases.push({
    name: "files of two layouts",
    task: "pretrain",
    args: ["--data", "jets.h5", "bt.h5", "--steps", "1", "--out", "fresh"],
    code: 1,
    says: ["bt.h5", "differs", "one layout"],
  });
  if (h5py.success) {
    cases.push(run("lzf.h5", ["lzf.h5", "csts", "lzf", "gzip"]));
  }
  await battery(tmp, cases);
});

Deno.test("pretrain --precision f16 trains with f16 matmul operands and says so", async () => {
  const r = await runTask(tmp, "pretrain", [...small, "--out", "half16", "--precision", "f16"]);
  if (r.code !== 0 || !r.out.includes("(f16 matmul operands)")) {
    throw new Error(`${r.code}\n${r.out}\n${r.err}`);
  }
  const rows = (await Deno.readTextFile(`${tmp}/half16/metrics.csv`)).trim().split("\n");
  if (rows.length < 2 || rows.slice(1).some((l) => l.split(",").some((v) => v === "NaN"))) {
    throw new Error(`metrics: ${rows.join(" | ")}`);
  }
  await Deno.remove(`${tmp}/half16`, { recursive: true });
});

Deno.test("battery: --skip-bad-jets skips and reports the jets a normal run refuses", async () => {
  const r = await runTask(tmp, "pretrain", [
    "--data",
    "long.h5",
    "--steps",
    "2",
    "--batch",
    "8",
    "--tasks",
    "reg",
    "--out",
    "skipped",
    "--skip-bad-jets",
  ]);
  if (r.code !== 0 || !r.out.includes("skipped bad jets: 1 too many particles")) {
    throw new Error(`${r.code}\n${r.out}\n${r.err}`);
  }
  await Deno.remove(`${tmp}/skipped`, { recursive: true });
});

Deno.test("battery: checkpoints that are mixed, truncated or damaged are refused, naming the files", async () => {
  const copy = async (name: string) => {
    await new Deno.Command("cp", { args: ["-a", `${tmp}/run`, `${tmp}/${name}`] }).output();
    return `${tmp}/${name}`;
  };
  const manifest = JSON.parse(await Deno.readTextFile(`${tmp}/run/checkpoint.json`));
  // A run in the layout of 0.1 (no manifest: the top-level files are the checkpoint) whose
  // state.json has a non-numeric step.
  const a = await copy("ck_state");
  await Deno.remove(`${a}/checkpoint.json`);
  await Deno.remove(`${a}/checkpoints`, { recursive: true });
  await Deno.remove(`${a}/state.json`);
  await Deno.writeTextFile(
    `${a}/state.json`,
    JSON.stringify({ step: "four", loader: {}, seed: 1, elapsed: 0 }),
  );
  const b = await copy("ck_size");
  const model = await Deno.readFile(`${b}/${manifest.dir}/model.safetensors`);
  await Deno.remove(`${b}/${manifest.dir}/model.safetensors`);
  await Deno.writeFile(
    `${b}/${manifest.dir}/model.safetensors`,
    model.subarray(0, model.length - 8),
  );
  const c = await copy("ck_manifest");
  await Deno.writeTextFile(`${c}/checkpoint.json`, "{ not json");
  const d = await copy("ck_mix");
  // The optimiser state of another step: a different run's optim.safetensors (step 2 of 2).
  const r2 = await runTask(tmp, "pretrain", [
    ...small.slice(0, 2),
    "--steps",
    "2",
    "--batch",
    "8",
    "--tasks",
    "reg",
    "--out",
    "run2",
  ]);
  if (r2.code !== 0) throw new Error(r2.err);
  const m2 = JSON.parse(await Deno.readTextFile(`${tmp}/run2/checkpoint.json`));
  await Deno.remove(`${d}/${manifest.dir}/optim.safetensors`);
  await Deno.copyFile(
    `${tmp}/run2/${m2.dir}/optim.safetensors`,
    `${d}/${manifest.dir}/optim.safetensors`,
  );
  // keep the recorded size consistent so that only the step check can catch the mix
  manifest.files["optim.safetensors"] =
    (await Deno.stat(`${d}/${manifest.dir}/optim.safetensors`)).size;
  await Deno.writeTextFile(`${d}/checkpoint.json`, JSON.stringify(manifest));
  await Deno.remove(`${tmp}/run2`, { recursive: true });
  await battery(tmp, [
    pre(["--resume", "ck_state"], ["state.json at step NaN", "disagree", "interrupted"], 1),
    pre(["--resume", "ck_size"], ["model.safetensors has", "bytes", "altered"], 1),
    pre(["--resume", "ck_manifest"], ["checkpoint.json: unreadable"], 1),
    pre(["--resume", "ck_mix"], [
      "optim.safetensors at step 2",
      "model.safetensors at step 4",
      "disagree",
    ], 1),
  ]);
});

Deno.test("battery: a resumed run refuses data that changed since it started", async () => {
  const moved = `${tmp}/mutable`;
  await Deno.mkdir(moved);
  await Deno.copyFile(`${tmp}/jets.h5`, `${moved}/jets.h5`);
  let r = await runTask(moved, "pretrain", [...small, "--out", "run"]);
  if (r.code !== 0) throw new Error(r.err);
  // Change bytes inside the second sampled block of the fingerprint (16 blocks of 4 KiB spread
  // evenly; a change between blocks would go unseen: the fingerprint is cheap, not a full hash).
  const size = (await Deno.stat(`${moved}/jets.h5`)).size;
  const f = await Deno.open(`${moved}/jets.h5`, { write: true });
  await f.seek(Math.floor((size - 4096) / 15) + 100, Deno.SeekMode.Start);
  await f.write(new Uint8Array([1, 2, 3, 4]));
  f.close();
  await battery(moved, [pre(["--resume", "run"], ["jets.h5 changed", "--data-changed"], 1)]);
  r = await runTask(moved, "pretrain", ["--resume", "run", "--steps", "5", "--data-changed"]);
  if (r.code === 2) throw new Error(`--data-changed is a flag: ${r.err}`);
});
