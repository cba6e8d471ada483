// Set-to-set flow matching: the dropped-set layout, the flow-matching targets against a host
// reference, permutation equivariance and padding invariance of the decoder, the sampler against
// the exact solution of a constant velocity, whole-jet generation, objective checks, and a short
// pre-training run whose loss falls and whose completion report beats nothing it should not.
import { ParameterStore } from "../../src/autograd/parameters.ts";
import { Tape } from "../../src/autograd/tape.ts";
import { Rng } from "../../src/data/rng.ts";
import { writeJetFile } from "../../src/data/hdf5.ts";
import { uniformMasking } from "../../src/data/masking.ts";
import { QuantileTransform } from "../../src/data/preprocess.ts";
import { synthJetClass } from "../../src/data/synth.ts";
import { Backbone } from "../../src/mpm/backbone.ts";
import { type MPMConfig, preset } from "../../src/mpm/config.ts";
import { MPMModel } from "../../src/mpm/model.ts";
import { droppedSets, prepareInputs } from "../../src/mpm/prepare.ts";
import {
  savedTimeEmbedding,
  sinusoidalTimeEmbedding,
  SSFM_TYPES,
  SSFMTask,
} from "../../src/mpm/ssfm.ts";
import { loadSSFMRun } from "../../src/train/generate.ts";
import { InitRng } from "../../src/nn/init.ts";
import { pretrain } from "../../src/train/pretrain.ts";
import { checkObjective } from "../../src/mpm/registry.ts";
import { assertClose, randn, testGpu } from "../_helpers/mod.ts";

const gpu = await testGpu();
const tmp = await Deno.makeTempDir({ prefix: "ssfm-test-" });
const F = 7;

function tinyConfig(): MPMConfig {
  const c = preset("small");
  c.objective = "ssfm";
  c.encoder = {
    dim: 16,
    layers: 1,
    heads: 2,
    registers: 2,
    ffMult: 2,
    finalNorm: false,
    layerScaleInit: 1e-3,
  };
  c.decoder = { dim: 16, layers: 2, heads: 2, ffMult: 2 };
  c.tasks = { ssfm: { weight: 1, minDrop: 0, maxDrop: 0.8, sampleSteps: 4 } };
  c.train = {
    ...c.train,
    steps: 40,
    batch: 16,
    lr: 3e-3,
    warmup: 2,
    halfLife: 1000,
    valEvery: 40,
    valBatches: 1,
    logEvery: 5,
    checkpointEvery: 20,
    seed: 3,
  };
  return c;
}

function task(
  store: ParameterStore,
  o: { ids?: boolean; layers?: number; timeEmbedding?: "reference" | "sinusoidal" } = {},
): SSFMTask {
  return new SSFMTask(store, new InitRng(5), {
    timeEmbedding: o.timeEmbedding,
    features: F,
    ids: o.ids ?? true,
    encoderDim: 12,
    dim: 8,
    layers: o.layers ?? 2,
    heads: 2,
    minDrop: 0,
    maxDrop: 0.8,
    seed: 11,
  });
}

/** An SSFM task sized for {@linkcode tinyConfig}'s 16-wide encoder. */
function tinyTask(store: ParameterStore, minDrop: number, maxDrop: number, seed = 11): SSFMTask {
  return new SSFMTask(store, new InitRng(2), {
    features: F,
    ids: true,
    encoderDim: 16,
    dim: 16,
    layers: 1,
    heads: 2,
    minDrop,
    maxDrop,
    seed,
  });
}

/** Sets every parameter to small random values (adaLN-Zero starts as the identity otherwise). */
async function randomise(store: ParameterStore, seed: number): Promise<void> {
  const vals = await store.read(), r = new Rng(seed, 0);
  for (const v of vals.values()) for (let i = 0; i < v.length; i++) v[i] = 0.5 * (r.u() - 0.5);
  store.write(vals);
}

Deno.test("ssfm droppedSets: jets with no dropped particle get only padding rows", () => {
  const s = droppedSets(new Int32Array([0, 3, 0, 1]));
  if (s.Nd !== 3) throw new Error(`Nd ${s.Nd}`);
  if (s.rowOfM.join() !== "3,4,5,9") throw new Error(`rowOfM ${s.rowOfM}`);
  if (Array.from(s.valid).join("") !== "000111000100") throw new Error(`valid ${s.valid}`);
  const none = droppedSets(new Int32Array([0, 0]));
  if (none.Nd !== 1 || none.rowOfM.length || none.valid.some((v) => v)) {
    throw new Error("an all-empty batch must give one padding row per jet");
  }
});

Deno.test("ssfm sinusoidal time embedding matches sin/cos(pi t 2^(k/2))", () => {
  const t = [0.3, 0.9];
  const e = sinusoidalTimeEmbedding(t);
  for (let i = 0; i < 2; i++) {
    for (let k = 0; k < 16; k++) {
      const a = Math.PI * t[i] * Math.pow(Math.SQRT2, k);
      assertClose([e[i * 32 + k], e[i * 32 + 16 + k]], [Math.sin(a), Math.cos(a)], {
        atol: 1e-6,
      });
    }
  }
});

Deno.test("ssfm time embedding: the reference's by default (cos(pi t e^k), k < 32, MLP 32-128-128-32 with SiLU and LayerNorm, 32-wide conditioning; float64 host reference), the earlier sinusoidal one as an option", async () => {
  const store = new ParameterStore(gpu);
  const ssfm = task(store);
  store.finalize();
  await randomise(store, 9);
  const names = store.parameters.map((p) => p.name);
  if (names.some((n) => n.startsWith("tasks.ssfm.time."))) throw new Error("sinusoidal layers");
  const t = [0.05, 0.5, 0.93];
  const tape = new Tape(gpu);
  const got = await ssfm.conditioning(tape, gpu, t).read();
  tape.dispose();
  // Host reference in float64 from the stored weights.
  const w = await store.read();
  const get = (n: string) => Float64Array.from(w.get(`tasks.ssfm.time_mlp.${n}`)!);
  const dims = [32, 128, 128, 32];
  const want: number[] = [];
  for (const ti of t) {
    // t as the float32 the device gets: at k near 31 the angle is ~1e12 rad, so any other
    // rounding of t gives unrelated cosines (aliased features, as in the reference).
    const tf = Math.fround(ti);
    let h = Array.from({ length: 32 }, (_, k) => Math.cos(Math.PI * tf * Math.exp(k)));
    for (let l = 0; l < 3; l++) {
      const W = get(`layers.${l}.weight`), b = get(`layers.${l}.bias`);
      const o = Array.from({ length: dims[l + 1] }, (_, j) => {
        let a = b[j];
        for (let i = 0; i < dims[l]; i++) a += W[j * dims[l] + i] * h[i];
        return a;
      });
      if (l === 2) {
        h = o;
        break;
      }
      const act = o.map((x) => x / (1 + Math.exp(-x)));
      const mean = act.reduce((a, x) => a + x, 0) / act.length;
      const v = act.reduce((a, x) => a + (x - mean) ** 2, 0) / act.length;
      const g = get(`norms.${l}.weight`), be = get(`norms.${l}.bias`);
      h = act.map((x, i) => (x - mean) / Math.sqrt(v + 1e-5) * g[i] + be[i]);
    }
    want.push(...h);
  }
  if (got.length !== 3 * 32) throw new Error(`conditioning of ${got.length / 3} per jet`);
  assertClose(got, want, { atol: 1e-4, rtol: 1e-4 });
  // The earlier embedding stays available, with its own layers and a decoder-wide conditioning.
  const store2 = new ParameterStore(gpu);
  const old = task(store2, { timeEmbedding: "sinusoidal" });
  store2.finalize();
  const n2 = store2.parameters.map((p) => p.name);
  if (!n2.includes("tasks.ssfm.time.0.weight") || n2.some((n) => n.includes("time_mlp"))) {
    throw new Error(`sinusoidal layers: ${n2.filter((n) => n.includes("time"))}`);
  }
  const tape2 = new Tape(gpu);
  const c2 = old.conditioning(tape2, gpu, t);
  if (c2.shape.join() !== "3,8") throw new Error(`sinusoidal conditioning ${c2.shape}`);
  tape2.dispose();
  let msg = "";
  try {
    task(new ParameterStore(gpu), { timeEmbedding: "fourier" as "reference" });
  } catch (e) {
    msg = String(e);
  }
  if (!msg.includes("fourier")) throw new Error("an unknown time embedding was accepted");
});

Deno.test("ssfm loss: a zero-velocity decoder's loss is the mean of (eps - y)^2 over the dropped particles, the noise drawn from each jet's own stream (host reference)", async () => {
  // Zero the output layer: the predicted velocity is 0, so the loss is the mean over real
  // dropped entries of (eps - y)^2 with y = [features, one-hot type], drawn as the task draws.
  const block = synthJetClass(5, { seed: 2 });
  const pre = QuantileTransform.fit([synthJetClass(200, { seed: 1 })], { levels: 50 });
  const batch = {
    size: block.n,
    nParticles: block.nParticles,
    features: block.features,
    x: pre.transform(block),
    raw: block.csts,
    ids: block.ids!,
    valid: Uint32Array.from(block.valid),
    streamIndex: 40,
  };
  const m = uniformMasking(batch.valid, batch.size, batch.nParticles, {
    seed: 1,
    min: 0,
    max: 0.8,
  });
  m.count[2] = 0; // one jet drops nothing: its rows are all padding
  for (let n = 0; n < batch.nParticles; n++) m.dropped[2 * batch.nParticles + n] = 0;
  const cfg = tinyConfig();
  const store = new ParameterStore(gpu);
  const model = new MPMModel(store, cfg);
  const ssfm = tinyTask(store, 0, 0.8);
  store.finalize();
  const vals = await store.read();
  for (const [name, v] of vals) if (name.startsWith("tasks.ssfm.output.")) v.fill(0);
  store.write(vals);
  const inp = prepareInputs(gpu, batch, m, { registers: 2, maxParticles: 128 });
  const tape = new Tape(gpu);
  const pass = model.forward(tape, inp);
  const loss = (await ssfm.loss(tape, pass, inp).read())[0];
  tape.dispose();

  const sets = droppedSets(inp.dropCount), W = F + SSFM_TYPES;
  let sum = 0, count = 0;
  for (let b = 0; b < sets.B; b++) {
    const r = new Rng(11 ^ 0x7373666d, 40 + b); // each jet's own stream: its time, then noise
    r.n();
    for (let j = 0; j < sets.Nd; j++) {
      const row = b * sets.Nd + j, mm = sets.mOfRow[row];
      for (let w = 0; w < W; w++) {
        const e = r.n();
        if (mm < 0) continue;
        const y = w < F ? inp.xDropHost[mm * F + w] : (inp.idsDropHost[mm] === w - F ? 1 : 0);
        sum += (e - y) ** 2;
        count++;
      }
    }
  }
  if (!(inp.M > 0 && inp.dropCount[2] === 0)) throw new Error("test setup");
  assertClose([loss], [sum / count], { rtol: 1e-4, atol: 1e-6 });
  inp.dispose();
});

Deno.test("ssfm, cfm and cnf losses are per-jet means with per-jet noise: a batch's loss is its parts' losses weighted by their dropped particles (what data parallelism relies on)", async () => {
  const { CFMTask } = await import("../../src/mpm/cfm.ts");
  const { CNFTask } = await import("../../src/mpm/cnf.ts");
  const block = synthJetClass(6, { seed: 4 });
  const pre = QuantileTransform.fit([synthJetClass(200, { seed: 1 })], { levels: 50 });
  const x = pre.transform(block), P = block.nParticles;
  // Rows [s, e) of the block as a batch with the stream index of its first jet, masked per jet.
  const part = (s: number, e: number) => {
    const batch = {
      size: e - s,
      nParticles: P,
      features: block.features,
      x: x.slice(s * P * F, e * P * F),
      raw: block.csts.slice(s * P * F, e * P * F),
      ids: block.ids!.slice(s * P, e * P),
      valid: Uint32Array.from(block.valid.subarray(s * P, e * P)),
      streamIndex: 70 + s,
    };
    const m = uniformMasking(batch.valid, batch.size, P, {
      seed: 3,
      min: 0.2,
      max: 0.6,
      jetIndex: batch.streamIndex,
    });
    return prepareInputs(gpu, batch, m, { registers: 2, maxParticles: 128 });
  };
  for (const kind of ["ssfm", "cfm", "cnf"] as const) {
    const cfg = tinyConfig();
    if (kind !== "ssfm") cfg.objective = "mae";
    const store = new ParameterStore(gpu);
    const model = new MPMModel(store, cfg);
    const task = kind === "ssfm"
      ? tinyTask(store, 0.2, 0.6)
      : kind === "cfm"
      ? new CFMTask(store, new InitRng(2), model.headDim, F, { seed: 11, hidden: 8 })
      : new CNFTask(store, new InitRng(2), model.headDim, block.features, { seed: 11 });
    store.finalize();
    const loss = async (s: number, e: number) => {
      const inp = part(s, e), tape = new Tape(gpu);
      const v = (await task.loss(tape, model.forward(tape, inp), inp).read())[0];
      tape.dispose();
      const M = inp.M;
      inp.dispose();
      return { v, M };
    };
    const whole = await loss(0, 6), a = await loss(0, 2), b = await loss(2, 6);
    if (a.M + b.M !== whole.M) throw new Error(`${kind}: masks differ between batch and parts`);
    assertClose([whole.v * whole.M], [a.v * a.M + b.v * b.M], { rtol: 2e-5, atol: 1e-6 });
    store.dispose();
  }
});

Deno.test("ssfm decoder: permuting the dropped set permutes the velocity; padding rows and padded context change nothing", async () => {
  const store = new ParameterStore(gpu);
  const ssfm = task(store);
  store.finalize();
  await randomise(store, 4);
  const W = ssfm.width, n = 5, Nc = 4, C = 12;
  const x = randn(n * W, 1), ctx = randn(Nc * C, 2);
  const run = (xs: Float32Array, rows: number, valid: number[], c: Float32Array, cv: number[]) => {
    const tape = new Tape(gpu);
    const context = ssfm.projectContext(tape, tape.keep(gpu.upload(c, [1, cv.length, C])));
    const v = ssfm.velocity(
      tape,
      tape.keep(gpu.upload(xs, [1, rows, W])),
      tape.keep(gpu.upload(Uint32Array.from(valid), [1, rows])),
      context,
      tape.keep(gpu.upload(Uint32Array.from(cv), [1, cv.length])),
      [0.37],
    );
    return v.read().then((a) => {
      tape.dispose();
      return a as Float32Array;
    });
  };
  const base = await run(x, n, [1, 1, 1, 1, 1], ctx, [1, 1, 1, 1]);
  if (base.every((v) => v === 0)) throw new Error("degenerate velocity");
  const perm = [3, 0, 4, 1, 2];
  const xp = new Float32Array(n * W);
  perm.forEach((p, i) => xp.set(x.subarray(p * W, (p + 1) * W), i * W));
  const vp = await run(xp, n, [1, 1, 1, 1, 1], ctx, [1, 1, 1, 1]);
  const want = new Float32Array(n * W);
  perm.forEach((p, i) => want.set(base.subarray(p * W, (p + 1) * W), i * W));
  assertClose(vp, want, { atol: 1e-5, rtol: 1e-4 });
  // Two padding rows with junk, and a padded context slot with junk.
  const xpad = new Float32Array((n + 2) * W).fill(9);
  xpad.set(x);
  const cpad = new Float32Array((Nc + 1) * C).fill(-7);
  cpad.set(ctx);
  const vpad = await run(xpad, n + 2, [1, 1, 1, 1, 1, 0, 0], cpad, [1, 1, 1, 1, 0]);
  assertClose(vpad.subarray(0, n * W), base, { atol: 1e-5, rtol: 1e-4 });
});

Deno.test("ssfm sampler: a constant velocity b integrates from the noise z to z - b; types are the argmax", async () => {
  const store = new ParameterStore(gpu);
  const ssfm = task(store);
  store.finalize();
  const vals = await store.read();
  const W = ssfm.width;
  const b = Float32Array.from({ length: W }, (_, i) => 0.3 * i - 2);
  for (const [name, v] of vals) if (name.startsWith("tasks.ssfm.output.")) v.fill(0);
  vals.get("tasks.ssfm.output.bias")!.set(b);
  store.write(vals);
  const sets = droppedSets(new Int32Array([2, 0, 3]));
  const tape = new Tape(gpu);
  const context = ssfm.projectContext(
    tape,
    tape.keep(gpu.upload(randn(3 * 2 * 12, 3), [3, 2, 12])),
  );
  const state = await ssfm.integrate(
    gpu,
    context,
    tape.keep(gpu.upload(new Uint32Array(6).fill(1), [3, 2])),
    sets,
    { steps: 5, seed: 8, stream: 2 },
  );
  tape.dispose();
  const r = new Rng(8 ^ 0x73736d70, 2);
  const z = Float32Array.from({ length: state.length }, () => r.n());
  assertClose(state, z.map((v, i) => v - b[i % W]), { atol: 1e-5, rtol: 1e-5 });
  const dec = ssfm.decode(state, sets.rowOfM);
  for (let k = 0; k < sets.rowOfM.length; k++) {
    const row = state.subarray(sets.rowOfM[k] * W + F, sets.rowOfM[k] * W + W);
    if (dec.ids[k] !== row.indexOf(Math.max(...row))) throw new Error("type is not the argmax");
    assertClose(
      dec.x.subarray(k * F, k * F + F),
      state.subarray(sets.rowOfM[k] * W, sets.rowOfM[k] * W + F),
    );
  }
});

Deno.test("ssfm whole-jet generation: requested multiplicities, finite features, clear errors", async () => {
  const store = new ParameterStore(gpu);
  const cfg = tinyConfig();
  const backbone = Backbone.build(store, {
    encoder: cfg.encoder,
    features: cfg.features,
    useIds: true,
    maxParticles: 128,
  }, new InitRng(1));
  const ssfm = tinyTask(store, 0, 1, 1);
  store.finalize();
  await randomise(store, 9);
  const mult = new Int32Array([3, 1, 6]);
  const g = await ssfm.generate(backbone, mult, { steps: 3, seed: 1 });
  if (g.sets.Nd !== 6 || g.x.length !== 3 * 6 * F) {
    throw new Error(`shape ${g.sets.Nd} ${g.x.length}`);
  }
  for (let b = 0; b < 3; b++) {
    const c = g.sets.valid.subarray(b * 6, b * 6 + 6).reduce((s, v) => s + v, 0);
    if (c !== mult[b]) throw new Error(`jet ${b}: ${c} particles, asked ${mult[b]}`);
  }
  if (!g.x.every(Number.isFinite)) throw new Error("non-finite generated features");
  if (g.ids.some((i) => i < 0 || i >= SSFM_TYPES)) throw new Error("type out of range");
  let msg = "";
  try {
    await ssfm.generate(backbone, new Int32Array([2, 0]));
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes("at least one particle")) throw new Error(`no clear error: ${msg}`);
});

Deno.test("ssfm objective checks: clear errors for impossible task combinations", () => {
  const bad: [string, (c: MPMConfig) => void, string][] = [
    ["ssfm without the task", (c) => delete c.tasks.ssfm, "needs tasks.ssfm"],
    ["ssfm with reg", (c) => (c.tasks.reg = { weight: 1 }), "cannot run with it"],
    ["mae with ssfm", (c) => (c.objective = "mae"), "needs objective 'ssfm'"],
  ];
  for (const [name, edit, want] of bad) {
    const c = tinyConfig();
    edit(c);
    let msg = "";
    try {
      checkObjective(c);
    } catch (e) {
      msg = (e as Error).message;
    }
    if (!msg.includes(want)) throw new Error(`${name}: got "${msg}"`);
  }
  checkObjective(tinyConfig());
});

Deno.test("ssfm short pre-training: the loss falls, the completion report and backbone are written", async () => {
  const data = `${tmp}/train.h5`;
  writeJetFile(data, synthJetClass(600, { seed: 7 }));
  const pre = QuantileTransform.fit([synthJetClass(400, { seed: 8 })], { levels: 100 });
  const out = `${tmp}/run`, lines: string[] = [];
  await pretrain({
    gpu,
    config: tinyConfig(),
    trainFiles: [data],
    out,
    preprocessor: pre,
    log: (l) => lines.push(l),
  });
  const rows = (await Deno.readTextFile(`${out}/metrics.csv`)).trim().split("\n");
  const head = rows[0].split(","), k = head.indexOf("ssfm");
  const train = rows.slice(1).map((r) => r.split(",")).filter((r) => r[1] === "train");
  const first = (+train[0][k] + +train[1][k]) / 2,
    last = (+train.at(-1)![k] + +train.at(-2)![k]) / 2;
  if (!(last < 0.9 * first)) throw new Error(`ssfm loss ${first} -> ${last}`);
  const rep = JSON.parse(await Deno.readTextFile(`${out}/plots/ssfm_completion.json`));
  for (const key of ["mass", "leadingPtShare", "width"]) {
    if (!(rep[key].model >= 0 && rep[key].baseline >= 0)) throw new Error(`report ${key}`);
  }
  await Deno.stat(`${out}/plots/ssfm_jet_mass.svg`);
  await Deno.stat(`${out}/backbone.safetensors`);
  if (!lines.some((l) => l.includes("SSFM jet completion"))) throw new Error("no report line");
});

Deno.test("ssfm: a run saved with the earlier (sinusoidal) time embedding and a config.json that names none still loads as it was trained", async () => {
  const data = `${tmp}/old.h5`;
  writeJetFile(data, synthJetClass(200, { seed: 9 }));
  const pre = QuantileTransform.fit([synthJetClass(200, { seed: 10 })], { levels: 50 });
  const cfg = tinyConfig();
  cfg.tasks.ssfm!.timeEmbedding = "sinusoidal";
  cfg.train = { ...cfg.train, steps: 2, valEvery: 100, checkpointEvery: 2 };
  const out = `${tmp}/old-run`;
  await pretrain({ gpu, config: cfg, trainFiles: [data], out, preprocessor: pre, log: () => {} });
  // What a run made before the option existed looks like: no timeEmbedding in its config.
  const saved = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
  delete saved.tasks.ssfm.timeEmbedding;
  await Deno.writeTextFile(`${out}/config.json`, JSON.stringify(saved));
  const run = await loadSSFMRun(gpu, out);
  if (!run.ssfm.time || run.ssfm.timeMlp) throw new Error("not loaded with its own embedding");
  if (run.config.tasks.ssfm!.timeEmbedding !== "sinusoidal") throw new Error("config not explicit");
  // A new configuration with the same weight names is untouched without them.
  if (savedTimeEmbedding(saved, ["tasks.ssfm.time_mlp.layers.0.weight"]) !== saved) {
    throw new Error("a reference-embedding run was changed");
  }
});
