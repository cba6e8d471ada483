// Downstream: pair slots, every task end to end on a tiny backbone, frozen vs fine-tuned
// backbones, early stopping.
import { decodeSafetensors } from "../../src/io/safetensors.ts";
import { writeJetFile } from "../../src/data/hdf5.ts";
import { readArrays } from "../../src/data/hdf5_arrays.ts";
import { QuantileTransform } from "../../src/data/preprocess.ts";
import { synthBTag, synthJetClass } from "../../src/data/synth.ts";
import { pairSlots, TokenMLP } from "../../src/heads/heads.ts";
import { ParameterStore } from "../../src/autograd/parameters.ts";
import { Tape } from "../../src/autograd/tape.ts";
import { InitRng } from "../../src/nn/init.ts";
import { preset } from "../../src/mpm/config.ts";
import { finetune } from "../../src/train/finetune.ts";
import { splitPart } from "../../src/train/downstream/task.ts";
import { pretrain } from "../../src/train/pretrain.ts";
import { testGpu } from "../_helpers/mod.ts";

const gpu = await testGpu();
const tmp = await Deno.makeTempDir({ prefix: "mpm-ft-" });
writeJetFile(`${tmp}/jc.h5`, synthJetClass(1200, { seed: 1 }));
writeJetFile(`${tmp}/bt.h5`, synthBTag(600, { seed: 2 }));

// A tiny pre-trained backbone.
const cfg = preset("small");
cfg.encoder = {
  dim: 16,
  layers: 1,
  heads: 2,
  registers: 2,
  ffMult: 2,
  finalNorm: false,
  layerScaleInit: 1e-3,
};
cfg.decoder = { dim: 8, layers: 1, heads: 2, ffMult: 2 };
cfg.tasks = { reg: { weight: 1 } };
cfg.train = {
  ...cfg.train,
  steps: 3,
  batch: 8,
  valEvery: 3,
  valBatches: 1,
  logEvery: 3,
  checkpointEvery: 3,
};
const pre = QuantileTransform.fit([synthJetClass(200, { seed: 3 })], { levels: 50 });
await pretrain({
  gpu,
  config: cfg,
  trainFiles: [`${tmp}/jc.h5`],
  out: `${tmp}/pt`,
  preprocessor: pre,
  log: () => {},
});
const backbone = `${tmp}/pt/backbone.safetensors`;
const quick = {
  gpu,
  backbone,
  steps: 12,
  batch: 16,
  valEvery: 6,
  patience: 5,
  lr: 3e-3,
  maxEvalJets: 64,
  log: () => {},
};

Deno.test("pairSlots lists i < j pairs within jets, their validity and vertex sharing", () => {
  const s = pairSlots(new Uint32Array([1, 1, 1, 0]), new Int32Array([0, 2, 2, 0]), 1, 4);
  if (s.P !== 6) throw new Error(`P ${s.P}`);
  // Pairs (0,1) (0,2) (0,3) (1,2) (1,3) (2,3): valid unless track 3 is involved; (1,2) share a vertex.
  if (Array.from(s.valid).join() !== "1,1,0,1,0,0" || Array.from(s.same).join() !== "0,0,0,1,0,0") {
    throw new Error(`${s.valid} ${s.same}`);
  }
  if (s.first[3 * 4 + 1] !== 1 || s.second[3 * 4 + 2] !== 1) throw new Error("selection one-hots");
});

for (
  const [task, file, keys] of [
    ["classify", "jc.h5", ["accuracy", "auc", "auc_class_0"]],
    ["btag", "bt.h5", ["accuracy", "auc"]],
    ["vertex", "bt.h5", ["ari", "ari_standard"]],
    ["trackid", "bt.h5", ["balanced_accuracy"]],
    ["cwola", "jc.h5", ["sic", "auc"]],
  ] as const
) {
  Deno.test(`finetune ${task}: trains, early-stops or finishes, and writes its metrics`, async () => {
    const out = `${tmp}/ft-${task}`;
    const m = await finetune({
      ...quick,
      task,
      train: [`${tmp}/${file}`],
      nTrain: task === "cwola" ? 30 : 200,
      out,
      cwola: { signal: 2, background: 0, nBackground: 30 },
    });
    for (const k of keys) {
      if (!(k in m) || !Number.isFinite(m[k])) throw new Error(`${task}: metric ${k} = ${m[k]}`);
    }
    const saved = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
    if (saved[keys[0]] !== m[keys[0]]) throw new Error("metrics.json differs");
    await Deno.stat(`${out}/head.safetensors`);
    const py = await new Deno.Command("/usr/bin/python3", {
      args: [
        "-c",
        "import h5py,sys; f=h5py.File(sys.argv[1]); k=sys.argv[2]; print(k, f[k].ndim, all(c in f for c in ('file_index','jet_index','mask')))",
        `${out}/predictions.h5`,
        { vertex: "edge_logits", trackid: "track_logits" }[task as string] ?? "jet_logits",
      ],
      stdout: "piped",
      stderr: "null",
    }).output().catch(() => null);
    const want = ({ vertex: "edge_logits 2", trackid: "track_logits 3" }[task as string] ??
      "jet_logits 2") + " True";
    if (py?.success && new TextDecoder().decode(py.stdout).trim() !== want) {
      throw new Error(`predictions.h5: ${new TextDecoder().decode(py.stdout)}`);
    }
    await Deno.stat(`${out}/predictions.h5`);
    for (
      const f of [
        "loss.svg",
        ...(task === "classify" || task === "btag" || task === "cwola" ? ["roc.svg"] : []),
      ]
    ) await Deno.stat(`${out}/plots/${f}`);
  });
}

Deno.test("finetune keeps a frozen backbone fixed and moves it after unfreezing", async () => {
  const base = decodeSafetensors(await Deno.readFile(backbone)).tensors.get(
    "encoder.layers.0.attn.in_proj.weight",
  )!.data;
  const frozenRun = await finetune({
    ...quick,
    task: "classify",
    train: [`${tmp}/jc.h5`],
    nTrain: 100,
    out: `${tmp}/frozen`,
    frozen: true,
  });
  const ftRun = await finetune({
    ...quick,
    task: "classify",
    train: [`${tmp}/jc.h5`],
    nTrain: 100,
    out: `${tmp}/ft`,
    frozen: false,
    unfreezeAt: 4,
    catchup: 4,
  });
  const head = (dir: string) =>
    decodeSafetensors(Deno.readFileSync(`${dir}/head.safetensors`)).tensors;
  if (head(`${tmp}/frozen`).has("encoder.layers.0.attn.in_proj.weight")) {
    throw new Error("frozen run saved backbone weights as trained");
  }
  const tuned = head(`${tmp}/ft`).get("encoder.layers.0.attn.in_proj.weight")!.data;
  if (tuned.every((v, i) => v === base[i])) {
    throw new Error("fine-tuning left the backbone unchanged");
  }
  if (!Number.isFinite(frozenRun.accuracy) || !Number.isFinite(ftRun.accuracy)) {
    throw new Error("metrics");
  }
});

Deno.test("finetune stops early when the validation loss stops improving", async () => {
  const m = await finetune({
    ...quick,
    task: "classify",
    train: [`${tmp}/jc.h5`],
    nTrain: 50,
    out: `${tmp}/early`,
    steps: 200,
    valEvery: 2,
    patience: 1,
    lr: 5e-2,
  });
  if (!(m.steps < 200)) throw new Error(`ran ${m.steps} steps`);
});

Deno.test("evaluateRun re-evaluates a finished run on a test file and reproduces its metrics", async () => {
  const { evaluateRun } = await import("../../src/train/finetune.ts");
  writeJetFile(`${tmp}/bt_val.h5`, synthBTag(60, { seed: 8 }));
  writeJetFile(`${tmp}/bt_test.h5`, synthBTag(60, { seed: 9 }));
  const out = `${tmp}/ft-vertex-files`;
  const first = await finetune({
    ...quick,
    task: "vertex",
    train: [`${tmp}/bt.h5`],
    val: [`${tmp}/bt_val.h5`],
    test: [`${tmp}/bt_test.h5`],
    nTrain: 200,
    out,
  });
  const again = await evaluateRun(gpu, out, [`${tmp}/bt_test.h5`], `${tmp}/reeval`);
  if (again.ari !== first.ari || again.ari_standard !== first.ari_standard) {
    throw new Error(`re-evaluation differs: ${again.ari} vs ${first.ari}`);
  }
  await Deno.stat(`${tmp}/reeval/predictions.h5`);
});

Deno.test("finetune and evaluate commands: a run, its re-evaluation, and a tiny sweep with CSV and SVG", async () => {
  const { runTask } = await import("../_helpers/mod.ts");
  let r = await runTask(
    "finetune",
    tmp,
    "--task",
    "btag",
    "--backbone",
    backbone,
    "--train",
    "bt.h5",
    "--test",
    "bt_test.h5",
    "--val",
    "bt_val.h5",
    "--steps",
    "6",
    "--val-every",
    "3",
    "--n-train",
    "64",
    "--batch",
    "16",
    "--out",
    "cli-ft",
  );
  if (r.code !== 0 || !r.out.includes("accuracy")) throw new Error(r.err);
  r = await runTask(
    "evaluate",
    tmp,
    "--run",
    "cli-ft",
    "--test",
    "bt_test.h5",
    "--out",
    "cli-eval",
  );
  if (r.code !== 0 || !r.out.includes("accuracy")) throw new Error(r.err);
  r = await runTask(
    "evaluate",
    tmp,
    "--sweep",
    "--task",
    "vertex",
    "--train",
    "bt.h5",
    "--backbone",
    `mpm=${backbone}`,
    "--sizes",
    "32,64",
    "--seeds",
    "0",
    "--steps",
    "4",
    "--batch",
    "16",
    "--val-every",
    "2",
    "--max-eval-jets",
    "32",
    "--out",
    "cli-sweep",
  );
  if (r.code !== 0) throw new Error(r.err);
  const csv = (await Deno.readTextFile(`${tmp}/cli-sweep/sweep_summary.csv`)).trim().split("\n");
  if (
    csv.length !== 5 || !csv[1].startsWith("mpm,32") || !csv.some((l) => l.startsWith("random,64"))
  ) throw new Error(csv.join("\n"));
  if (!(await Deno.readTextFile(`${tmp}/cli-sweep/sweep.svg`)).includes("<path")) {
    throw new Error("sweep plot");
  }
  r = await runTask("finetune", tmp, "--task", "magic", "--train", "bt.h5");
  // A bad command line exits 2, naming the flag and the choices.
  if (r.code !== 2 || !r.err.includes("--task") || !r.err.includes("expected one of classify")) {
    throw new Error(r.err);
  }
});

Deno.test("finetune is reproducible: the same run twice in one process gives the same metrics", async () => {
  const a = await finetune({
    ...quick,
    task: "btag",
    train: [`${tmp}/bt.h5`],
    nTrain: 64,
    out: `${tmp}/rep-a`,
    steps: 6,
    valEvery: 3,
  });
  const b = await finetune({
    ...quick,
    task: "btag",
    train: [`${tmp}/bt.h5`],
    nTrain: 64,
    out: `${tmp}/rep-b`,
    steps: 6,
    valEvery: 3,
  });
  if (a.accuracy !== b.accuracy || a.best_val_loss !== b.best_val_loss) {
    throw new Error(`${a.best_val_loss} vs ${b.best_val_loss}`);
  }
});

Deno.test("finetune classify works on kinematics-only data (a random backbone shaped by the file)", async () => {
  const { KINEMATIC_FEATURES, selectFeatures } = await import("../../src/data/types.ts");
  const src = synthJetClass(400, { seed: 12 });
  writeJetFile(`${tmp}/kin.h5`, selectFeatures(src, KINEMATIC_FEATURES, { dropIds: true }));
  const m = await finetune({
    ...quick,
    backbone: "random",
    task: "classify",
    train: [`${tmp}/kin.h5`],
    nTrain: 100,
    out: `${tmp}/kin-ft`,
  });
  if (!Number.isFinite(m.accuracy)) throw new Error(JSON.stringify(m));
  // The JetClass backbone needs impact parameters: a clear error, not silent zeros.
  let msg = "";
  try {
    await finetune({
      ...quick,
      task: "classify",
      train: [`${tmp}/kin.h5`],
      nTrain: 100,
      out: `${tmp}/kin-ft2`,
    });
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes("needs feature")) throw new Error(`unexpected: ${msg}`);
});

Deno.test("finetune follows the protocol: scratch at 1e-3 from step 0, CWoLa a fixed 10 epochs keeping the last weights, explicit options win; schedule.json records what ran", async () => {
  const common = {
    gpu,
    train: [`${tmp}/jc.h5`],
    batch: 8,
    maxEvalJets: 16,
    log: () => {},
  };
  const read = async (dir: string) => JSON.parse(await Deno.readTextFile(`${dir}/schedule.json`));
  await finetune({
    ...common,
    task: "classify",
    backbone: "random",
    like: backbone,
    frozen: false,
    nTrain: 100,
    steps: 4,
    out: `${tmp}/proto-scratch`,
  });
  const sc = await read(`${tmp}/proto-scratch`);
  if (sc.lr !== 1e-3 || sc.unfreezeAt !== 0 || sc.catchup !== 1 || sc.frozen || sc.steps !== 4) {
    throw new Error(`scratch: ${JSON.stringify(sc)}`);
  }
  await finetune({
    ...common,
    task: "classify",
    backbone,
    frozen: false,
    nTrain: 100,
    steps: 6,
    unfreezeAt: 2,
    lr: 5e-4,
    warmup: 1,
    out: `${tmp}/proto-explicit`,
  });
  const ex = await read(`${tmp}/proto-explicit`);
  if (ex.unfreezeAt !== 2 || ex.lr !== 5e-4 || ex.warmup !== 1 || ex.patience !== 5) {
    throw new Error(
      `explicit options override the rules, the rest follow them: ${JSON.stringify(ex)}`,
    );
  }
  const m = await finetune({
    ...common,
    task: "cwola",
    backbone,
    nTrain: 30,
    cwola: { signal: 2, background: 0, nBackground: 30 },
    out: `${tmp}/proto-cwola`,
  });
  const cw = await read(`${tmp}/proto-cwola`);
  const rows = (await Deno.readTextFile(`${tmp}/proto-cwola/train.csv`)).trim().split("\n");
  if (cw.keepBest || cw.valEvery !== cw.steps || m.steps !== cw.steps || rows.length !== 2) {
    throw new Error(`cwola: one validation at the end of a fixed schedule: ${JSON.stringify(cw)}`);
  }
  // 10 epochs of the mixed training sample.
  const epoch = Math.ceil(cw.steps / 10);
  if (cw.steps !== 10 * epoch) throw new Error(`cwola steps ${cw.steps} are not 10 epochs`);
});

Deno.test("finetune reads a --test file given without --val whole, and takes validation jets from the training files' split", async () => {
  const fresh = `${tmp}/jc_fresh_test.h5`;
  writeJetFile(fresh, synthJetClass(150, { seed: 9 }));
  const before = await Deno.readFile(fresh);
  const out = `${tmp}/ft-own-test`;
  await finetune({
    ...quick,
    steps: 2,
    maxEvalJets: 1000,
    task: "classify",
    train: [`${tmp}/jc.h5`],
    test: [fresh],
    out,
  });
  const p = readArrays(`${out}/predictions.h5`);
  const rows = p.jet_index.data as ArrayLike<number>;
  // All 150 jets of the test file, in order (its 10 % split would be 15).
  if (rows.length !== 150 || rows[0] !== 0 || rows[149] !== 149) {
    throw new Error(`test rows: ${rows.length} from ${rows[0]} to ${rows[rows.length - 1]}`);
  }
  const run = JSON.parse(await Deno.readTextFile(`${out}/finetune.json`));
  if (JSON.stringify(run).includes("jc_fresh_test") === false) {
    throw new Error("finetune.json does not name the test file");
  }
  // The roles' parts: training and validation from the training files' split, the test whole;
  // with both --val and --test given, nothing is split.
  const train = [`${tmp}/jc.h5`];
  const parts = (["train", "val", "test"] as const).map((r) =>
    splitPart({ train, val: train, test: [fresh], split: true }, r)
  );
  if (JSON.stringify(parts) !== '["train","val",null]') throw new Error(`parts ${parts}`);
  if (splitPart({ train, val: [fresh], test: [fresh], split: false }, "train") !== undefined) {
    throw new Error("split without a role taken from the training files");
  }
  const after = await Deno.readFile(fresh);
  if (after.length !== before.length || after.some((b, i) => b !== before[i])) {
    throw new Error("the test file changed");
  }
});

Deno.test("head dropout seeded per jet: a jet drops the same values in a share of the batch, trimmed, as in the whole batch", async () => {
  const store = new ParameterStore(gpu);
  const mlp = new TokenMLP({ store, rng: new InitRng(3), group: "head" }, "head.mlp", [8, 16, 4]);
  store.finalize();
  const x = Float32Array.from({ length: 4 * 5 * 8 }, (_, i) => Math.sin(i * 0.37));
  const run = async (data: Float32Array, shape: number[], first: number, p = 0.5) => {
    const tape = new Tape(gpu);
    const y = mlp.forward(tape, gpu.upload(data, shape), {
      p,
      seed: 7,
      step: 0,
      jets: { first, count: shape[0] },
    });
    const v = await y.read() as Float32Array;
    tape.dispose();
    gpu.submit();
    return v;
  };
  const whole = await run(x, [4, 5, 8], 10);
  // Jets 2 and 3 (stream indices 12, 13), trimmed to their first 3 particles.
  const part = new Float32Array(2 * 3 * 8);
  for (let b = 0; b < 2; b++) part.set(x.subarray((2 + b) * 40, (2 + b) * 40 + 24), b * 24);
  const share = await run(part, [2, 3, 8], 12);
  for (let b = 0; b < 2; b++) {
    for (let i = 0; i < 12; i++) {
      if (share[b * 12 + i] !== whole[(2 + b) * 20 + i]) {
        throw new Error(
          `jet ${2 + b} value ${i}: ${share[b * 12 + i]} vs ${whole[(2 + b) * 20 + i]}`,
        );
      }
    }
  }
  const none = await run(x, [4, 5, 8], 10, 0);
  if (none.every((v, i) => v === whole[i])) throw new Error("dropout dropped nothing");
  const shifted = await run(x, [4, 5, 8], 11);
  if (shifted.every((v, i) => v === whole[i])) throw new Error("the stream index must matter");
  store.dispose();
});
