// MPMv2: mask ordering, the MAE pass (the encoder never sees dropped particles), heads against
// the references, short pre-training runs whose losses fall, exact resume, NaN stops.
import { droppedFeatures } from "../../src/mpm/model.ts";
import { ParameterStore } from "../../src/autograd/parameters.ts";
import { Tape } from "../../src/autograd/tape.ts";
import { writeJetFile } from "../../src/data/hdf5.ts";
import type { JetBatch } from "../../src/data/loader.ts";
import { randomMasking } from "../../src/data/masking.ts";
import { QuantileTransform } from "../../src/data/preprocess.ts";
import { synthJetClass } from "../../src/data/synth.ts";
import { KINEMATIC_FEATURES, selectFeatures } from "../../src/data/types.ts";
import { Backbone } from "../../src/mpm/backbone.ts";
import { adaptToData, type MPMConfig, preset } from "../../src/mpm/config.ts";
import { MPMModel } from "../../src/mpm/model.ts";
import { prepareInputs } from "../../src/mpm/prepare.ts";
import { IdTask, RegTask } from "../../src/mpm/tasks.ts";
import { InitRng } from "../../src/nn/init.ts";
import { pretrain } from "../../src/train/pretrain.ts";
import { assertClose, testGpu } from "../_helpers/mod.ts";
import { crossEntropyRef, pointwiseLossRef } from "../reference/losses.ts";

const gpu = await testGpu();
const tmp = await Deno.makeTempDir({ prefix: "mpm-test-" });

function tiny(objective: "mae" | "bert" = "mae"): MPMConfig {
  const c = preset("small");
  c.objective = objective;
  c.encoder = {
    dim: 16,
    layers: 1,
    heads: 2,
    registers: 2,
    ffMult: 2,
    finalNorm: false,
    layerScaleInit: 1e-3,
  };
  c.decoder = { dim: 8, layers: 1, heads: 2, ffMult: 2 };
  c.maxParticles = 128;
  c.train = {
    ...c.train,
    steps: 40,
    batch: 16,
    lr: 3e-3,
    warmup: 2,
    halfLife: 1000,
    valEvery: 20,
    valBatches: 2,
    logEvery: 5,
    checkpointEvery: 10,
    seed: 1,
  };
  return c;
}

function batchOf(block = synthJetClass(6, { seed: 3 })): JetBatch {
  const pre = QuantileTransform.fit([synthJetClass(300, { seed: 4 })], {
    levels: 50,
    neutralNoise: false,
  });
  const N = block.nParticles;
  return {
    size: block.n,
    nParticles: N,
    features: block.features,
    x: pre.transform(block),
    raw: block.csts,
    ids: block.ids!,
    valid: Uint32Array.from(block.valid),
    labels: block.labels,
    streamIndex: 0,
  };
}

Deno.test("mpm prepareInputs gives mask token k to the k-th dropped particle by pT, and compacts the kept ones", async () => {
  const batch = batchOf();
  const m = randomMasking(batch.valid, batch.size, 128, { seed: 2, pt: batch.raw, ptStride: 7 });
  const inp = prepareInputs(gpu, batch, m, { registers: 2, maxParticles: 128 });
  const onehot = await inp.maskOnehot.read(),
    maskIdx = await inp.placeTokens.idx.read(),
    decIdx = await inp.placeKept.idx.read();
  const N = inp.N, R = 2;
  let mm = 0;
  for (let b = 0; b < batch.size; b++) {
    let lastPt = Infinity, k = 0;
    for (let n = 0; n < N; n++) {
      const i = b * 128 + n, row = b * (R + N) + R + n;
      if (!m.dropped[i]) {
        if (batch.valid[i]) {
          if (decIdx[row] !== b * (R + inp.Nk) + R + k) {
            throw new Error(`jet ${b}: kept slot ${n} not mapped to compact ${k}`);
          }
          k++;
        }
        continue;
      }
      const rank = Array.from(onehot.subarray(mm * 128, (mm + 1) * 128)).indexOf(1);
      if (maskIdx[row] !== mm) throw new Error("dropped slot not mapped to its mask row");
      if (batch.raw[i * 7] > lastPt) {
        throw new Error("dropped particles are visited in decreasing pT");
      }
      if (rank !== m.rank[i]) {
        throw new Error(`dropped particle ${mm}: token ${rank}, rank ${m.rank[i]}`);
      }
      lastPt = batch.raw[i * 7];
      mm++;
    }
  }
  if (mm !== inp.M || inp.M !== m.count.reduce((a, b) => a + b, 0)) {
    throw new Error("dropped count");
  }
  inp.dispose();
});

Deno.test("mpm MAE pass: the encoder never sees dropped particles; kept particles matter", async () => {
  const cfg = tiny();
  const store = new ParameterStore(gpu);
  const model = new MPMModel(store, cfg);
  store.finalize();
  const batch = batchOf();
  const m = randomMasking(batch.valid, batch.size, 128, { seed: 5, pt: batch.raw, ptStride: 7 });
  const run = async (b: JetBatch) => {
    const inp = prepareInputs(gpu, b, m, { registers: 2, maxParticles: 128 });
    const tape = new Tape(gpu);
    const out = await droppedFeatures(model.forward(tape, inp), "test").read();
    tape.dispose();
    inp.dispose();
    return out;
  };
  const base = await run(batch);
  const perturb = (drop: boolean) => {
    const x = batch.x.slice();
    for (let i = 0; i < batch.size * 128; i++) {
      if (batch.valid[i] && !!m.dropped[i] === drop) x[i * 7] += 1;
    }
    return { ...batch, x };
  };
  assertClose(await run(perturb(true)), base, {
    atol: 0,
    label: "changing dropped particles changed the output",
  });
  const moved = await run(perturb(false));
  if (moved.every((v, i) => v === base[i])) {
    throw new Error("changing kept particles did not change the output");
  }
});

Deno.test("mpm ID and regression heads compute the reference losses", async () => {
  const cfg = tiny();
  const store = new ParameterStore(gpu);
  const model = new MPMModel(store, cfg);
  const rng = new InitRng(3);
  const id = new IdTask(store, rng, 8), reg = new RegTask(store, rng, 8, 7);
  store.finalize();
  const batch = batchOf();
  const inp = prepareInputs(gpu, batch, randomMasking(batch.valid, batch.size, 128, { seed: 6 }), {
    registers: 2,
    maxParticles: 128,
  });
  const tape = new Tape(gpu);
  const pass = model.forward(tape, inp), dropped = droppedFeatures(pass, "test");
  const logits = await id.head.forward(tape, dropped).read(),
    pred = await reg.head.forward(tape, dropped).read();
  const lid = (await id.loss(tape, pass, inp).read())[0],
    lreg = (await reg.loss(tape, pass, inp).read())[0];
  const ids = await inp.idsDrop.read(), x = await inp.xDrop.read();
  assertClose([lid], [crossEntropyRef(logits, ids, inp.M, 8, { eps: 0.1 }).loss], {
    atol: 1e-5,
    rtol: 1e-5,
  });
  assertClose([lreg], [pointwiseLossRef("l1", pred, x, inp.M, 7)], { atol: 1e-5, rtol: 1e-5 });
  tape.dispose();
  inp.dispose();
});

Deno.test("mpm BERT: the heads read the encoder outputs at the dropped slots (encoder width, no MLP, as the reference); bertHead adds the MLP to the decoder width", () => {
  for (const bertHead of [false, true]) {
    const cfg = { ...tiny("bert"), bertHead };
    const store = new ParameterStore(gpu);
    const model = new MPMModel(store, cfg);
    const names = store.parameters.map((p) => p.name).filter((n) => n.startsWith("bert_head"));
    if ((names.length > 0) !== bertHead) throw new Error(`bertHead ${bertHead}: ${names}`);
    const width = bertHead ? cfg.decoder.dim : cfg.encoder.dim;
    if (model.headDim !== width) throw new Error(`headDim ${model.headDim}, want ${width}`);
    store.finalize();
    const batch = batchOf();
    const inp = prepareInputs(
      gpu,
      batch,
      randomMasking(batch.valid, batch.size, 128, { seed: 6 }),
      { registers: 2, maxParticles: 128 },
    );
    const tape = new Tape(gpu);
    const dropped = droppedFeatures(model.forward(tape, inp), "test");
    if (dropped.shape.join() !== `${inp.M},${width}`) throw new Error(`${dropped.shape}`);
    tape.dispose();
    inp.dispose();
    store.dispose();
  }
});

const data = `${tmp}/train.h5`;
writeJetFile(data, synthJetClass(800, { seed: 7 }));
const pre = QuantileTransform.fit([synthJetClass(500, { seed: 8 })], { levels: 100 });

async function curve(out: string): Promise<{ step: number; total: number; cols: string[] }[]> {
  const rows = (await Deno.readTextFile(`${out}/metrics.csv`)).trim().split("\n");
  const head = rows[0].split(",");
  return rows.slice(1).map((r) => r.split(",")).filter((r) => r[1] === "train").map((r) => ({
    step: +r[0],
    total: +r[head.indexOf("total")],
    cols: r.slice(0, -1),
  }));
}

/** A tiny run with `tasks`, validating at the end: its output dir, log lines and mean loss of the first and last two logs. */
async function shortRun(name: string, tasks: MPMConfig["tasks"]) {
  const cfg = tiny();
  cfg.tasks = tasks;
  cfg.train.valEvery = 40;
  const out = `${tmp}/run-${name}`;
  const lines: string[] = [];
  await pretrain({
    gpu,
    config: cfg,
    trainFiles: [data],
    out,
    preprocessor: pre,
    log: (l) => lines.push(l),
  });
  const c = await curve(out);
  const first = (c[0].total + c[1].total) / 2,
    last = (c[c.length - 1].total + c[c.length - 2].total) / 2;
  return { out, lines, first, last };
}

for (
  const [name, tasks, objective] of [["reg", { reg: { weight: 1 } }, "mae"], ["id", {
    id: { weight: 1 },
  }, "mae"], ["reg (bert)", { reg: { weight: 1 } }, "bert"]] as const
) {
  Deno.test(`mpm short pre-training with the ${name} task: the loss falls`, async () => {
    const cfg = tiny(objective);
    cfg.tasks = tasks;
    const out = `${tmp}/run-${name.replace(/\W/g, "")}`;
    await pretrain({ gpu, config: cfg, trainFiles: [data], out, preprocessor: pre, log: () => {} });
    const c = await curve(out);
    const first = c.slice(0, 2).reduce((s, r) => s + r.total, 0) / 2,
      last = c.slice(-2).reduce((s, r) => s + r.total, 0) / 2;
    if (!(last < 0.9 * first)) throw new Error(`${name}: loss ${first} -> ${last}`);
    for (
      const f of [
        "config.json",
        "model.safetensors",
        "optim.safetensors",
        "state.json",
        "backbone.safetensors",
        "plots/train_loss.svg",
      ]
    ) await Deno.stat(`${out}/${f}`);
  });
}

Deno.test("mpm an interrupted and resumed run has exactly the uninterrupted loss curve", async () => {
  const cfg = tiny();
  cfg.train.steps = 20;
  cfg.tasks = { id: { weight: 0.3 }, reg: { weight: 1 }, probe: { every: 3, classes: 10 } };
  await pretrain({
    gpu,
    config: cfg,
    trainFiles: [data],
    out: `${tmp}/straight`,
    preprocessor: pre,
    log: () => {},
  });
  await pretrain({
    gpu,
    config: cfg,
    trainFiles: [data],
    out: `${tmp}/resumed`,
    preprocessor: pre,
    log: () => {},
    stopAfter: 13,
  });
  await pretrain({
    gpu,
    config: cfg,
    trainFiles: [data],
    out: `${tmp}/resumed`,
    preprocessor: pre,
    log: () => {},
    resume: true,
  });
  const a = await curve(`${tmp}/straight`), b = await curve(`${tmp}/resumed`);
  if (a.length !== 20 || b.length !== 20) throw new Error(`rows ${a.length} / ${b.length}`);
  a.forEach((r, i) => {
    if (r.cols.join() !== b[i].cols.join()) {
      throw new Error(`step ${r.step}: ${r.cols} != ${b[i].cols}`);
    }
  });
});

Deno.test("mpm a non-finite loss stops the run naming the step and the last good checkpoint", async () => {
  const cfg = tiny();
  cfg.train.lr = 1e12;
  cfg.train.clip = 0;
  cfg.train.steps = 30;
  let msg = "";
  try {
    await pretrain({
      gpu,
      config: cfg,
      trainFiles: [data],
      out: `${tmp}/nan`,
      preprocessor: pre,
      log: () => {},
    });
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!/became (NaN|-?Infinity) at step \d+/.test(msg) || !msg.includes(`${tmp}/nan`)) {
    throw new Error(`unexpected: ${msg}`);
  }
});

Deno.test("mpm kinematics-only data pre-trains with the features it has; strict configs fail clearly", async () => {
  const src = synthJetClass(300, { seed: 9 });
  const kin = selectFeatures(src, KINEMATIC_FEATURES, { dropIds: true });
  writeJetFile(`${tmp}/kin.h5`, kin);
  const cfg = adaptToData(tiny(), KINEMATIC_FEATURES, false);
  cfg.train.steps = 10;
  const kpre = QuantileTransform.fit([kin], { levels: 50 });
  await pretrain({
    gpu,
    config: cfg,
    trainFiles: [`${tmp}/kin.h5`],
    out: `${tmp}/kin`,
    preprocessor: kpre,
    log: () => {},
  });
  const bb = await Backbone.load(gpu, `${tmp}/kin/backbone.safetensors`);
  if (bb.info.features.length !== 3 || bb.info.useIds) {
    throw new Error(JSON.stringify(bb.info.features));
  }
  let msg = "";
  try {
    adaptToData(tiny(), KINEMATIC_FEATURES, false, true);
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes("d0")) throw new Error(`unexpected: ${msg}`);
});

Deno.test("mpm probe study: linear probe on a frozen backbone vs random backbones, and embed round-trips", async () => {
  const { probeStudy, softmaxProbe } = await import("../../src/train/probe_study.ts");
  // The probe itself separates separable features.
  const n = 200, x = new Float64Array(n * 2), y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2;
    x[i * 2] = y[i] ? 1 + 0.1 * Math.sin(i) : -1 + 0.1 * Math.cos(i);
    x[i * 2 + 1] = Math.sin(3 * i);
  }
  if (softmaxProbe({ x, y, dim: 2 }, { x, y, dim: 2 }, 2) !== 1) {
    throw new Error("probe cannot separate separable data");
  }
  const r = await probeStudy(gpu, `${tmp}/straight/backbone.safetensors`, [data], {
    trainJets: 100,
    testJets: 60,
    seeds: [0],
  });
  if (r.nTrain !== 100 || r.nTest !== 60 || r.random.length !== 1) {
    throw new Error(JSON.stringify(r));
  }
  if (!(r.pretrained > 0 && r.pretrained <= 1)) throw new Error(`accuracy ${r.pretrained}`);
});

Deno.test("mpm short pre-training with the K-Means task: the loss falls", async () => {
  const { fitKMeans, saveCodebook } = await import("../../src/mpm/kmeans.ts");
  const block = synthJetClass(200, { seed: 10 });
  const x = pre.transform(block);
  const pts: number[] = [];
  for (let i = 0; i < 200 * 128; i++) {
    if (block.valid[i]) { for (let f = 0; f < 7; f++) pts.push(x[i * 7 + f]); }
  }
  const cb = await fitKMeans(gpu, Float32Array.from(pts), 7, { k: 32, seed: 1, maxIter: 20 });
  await saveCodebook(`${tmp}/cb.json`, cb, block.features);
  const cfg = tiny();
  cfg.tasks = { kmeans: { weight: 1, codebook: `${tmp}/cb.json` } };
  // A codebook fitted to convergence has balanced tokens (the loss starts near ln 32 and falls
  // more slowly than with a first-iteration codebook): 80 steps.
  cfg.train.steps = 80;
  await pretrain({
    gpu,
    config: cfg,
    trainFiles: [data],
    out: `${tmp}/run-kmeans`,
    preprocessor: pre,
    log: () => {},
  });
  const c = await curve(`${tmp}/run-kmeans`);
  const first = (c[0].total + c[1].total) / 2,
    last = (c[c.length - 1].total + c[c.length - 2].total) / 2;
  // Starts at ln(32) = 3.47 (uniform over 32 tokens); deterministic run, so a 5 % fall is stable.
  if (!(last < 0.95 * first)) throw new Error(`kmeans: loss ${first} -> ${last}`);
});

Deno.test("mpm short pre-training with the CFM task: the loss falls, the EMA moves, the sampler writes plots", async () => {
  const { out, lines, first, last } = await shortRun("cfm", { cfm: { weight: 1, sampleSteps: 8 } });
  if (!(last < 0.9 * first)) throw new Error(`cfm: loss ${first} -> ${last}`);
  const svg = await Deno.readTextFile(`${out}/plots/cfm_pt.svg`);
  if (!svg.includes("CFM sample")) throw new Error("missing generated-vs-true plot");
  if (!lines.some((l) => l.includes("1-Wasserstein"))) throw new Error("no sampler report");
  const { decodeSafetensors } = await import("../../src/io/safetensors.ts");
  const w = decodeSafetensors(await Deno.readFile(`${out}/model.safetensors`)).tensors;
  const a = w.get("tasks.cfm.net.layers.0.weight")!.data,
    e = w.get("tasks.cfm.ema.layers.0.weight")!.data;
  if (a.every((v, i) => v === e[i])) throw new Error("EMA identical to the network after training");
});

Deno.test("mpm CFM sampler integrates the EMA network's velocity from t = 1 to t = 0", async () => {
  // EMA weights all zero except the output bias b: the velocity is the constant b, so any correct
  // fixed-step integration from the noise z at t = 1 to t = 0 returns z - b. The trained network
  // gets a different output bias, which must not be used.
  const { CFMTask } = await import("../../src/mpm/cfm.ts");
  const { Rng } = await import("../../src/data/rng.ts");
  const F = 3, D = 4, M = 5, seed = 9;
  const store = new ParameterStore(gpu);
  const cfm = new CFMTask(store, new InitRng(1), D, F, { seed: 1, hidden: 8 });
  store.finalize();
  const vals = await store.read();
  const b = new Float32Array([0.5, -1.25, 2]);
  for (const [name, v] of vals) {
    if (name.startsWith("tasks.cfm.ema.")) v.fill(0);
    if (name === "tasks.cfm.net.layers.3.bias") v.fill(7);
  }
  vals.get("tasks.cfm.ema.layers.3.bias")!.set(b);
  store.write(vals);
  const tape = new Tape(gpu);
  const dropped = gpu.upload(new Float32Array(M * D).map((_, i) => Math.sin(i)), [M, D]);
  const got = await cfm.sample(tape, dropped, { steps: 7, seed });
  tape.dispose();
  const r = new Rng(seed ^ 0x73616d70, 0);
  const z = Float32Array.from({ length: M * F }, () => r.n());
  assertClose(got, z.map((v, i) => v - b[i % F]), { atol: 1e-5, rtol: 1e-5 });
});

Deno.test("mpm short pre-training with the CNF task: the NLL falls and the sampler writes plots", async () => {
  const { out, lines, first, last } = await shortRun("cnf", { cnf: { weight: 1 } });
  // NLL in nats per particle (7 features): the identity start is the standard-normal NLL.
  if (!(last < first - 0.5)) throw new Error(`cnf: NLL ${first} -> ${last}`);
  const svg = await Deno.readTextFile(`${out}/plots/cnf_pt.svg`);
  if (!svg.includes("CNF sample")) throw new Error("missing generated-vs-true plot");
  if (!lines.some((l) => l.includes("CNF sample vs truth"))) throw new Error("no sampler report");
  const rep = JSON.parse(await Deno.readTextFile(`${out}/plots/cnf_completion.json`));
  for (const k of ["mass", "leadingPtShare", "width"]) {
    if (!(rep[k].model >= 0 && rep[k].baseline > 0)) {
      throw new Error(`completion ${k}: ${JSON.stringify(rep[k])}`);
    }
  }
  if (!(await Deno.readTextFile(`${out}/plots/cnf_jet_mass.svg`)).includes("marginals")) {
    throw new Error("missing jet-mass comparison plot");
  }
  await Deno.stat(`${out}/backbone.safetensors`);
});
