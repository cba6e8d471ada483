// The VQ-VAE tokenizer and task: codes are the most cosine-similar unit codes, the commitment
// loss against a host reference, the straight-through gradient reaches the encoder, padding
// changes nothing, k-means initialisation, save/load, a short training run whose loss falls with
// a sane report, the MPM task's targets are the tokenizer's codes of the dropped set, and clear
// errors.
import { Validity } from "../../src/nn/validity.ts";
import { ParameterStore } from "../../src/autograd/parameters.ts";
import * as ops from "../../src/autograd/ops.ts";
import { Tape } from "../../src/autograd/tape.ts";
import { writeJetFile } from "../../src/data/hdf5.ts";
import { randomMasking } from "../../src/data/masking.ts";
import { QuantileTransform } from "../../src/data/preprocess.ts";
import { synthJetClass } from "../../src/data/synth.ts";
import { preset } from "../../src/mpm/config.ts";
import { prepareInputs } from "../../src/mpm/prepare.ts";
import { setMaps, type TokenizerConfig, VQTokenizer, VQVAETask } from "../../src/mpm/vqvae.ts";
import { InitRng } from "../../src/nn/init.ts";
import { pretrain } from "../../src/train/pretrain.ts";
import { trainTokenizer } from "../../src/train/vqvae.ts";
import { assertClose, randn, testGpu } from "../_helpers/mod.ts";

const gpu = await testGpu();
const tmp = await Deno.makeTempDir({ prefix: "vqvae-test-" });
const F = 7;

function tinyConfig(): TokenizerConfig {
  return {
    features: ["pt", "deta", "dphi", "d0", "d0err", "dz", "dzerr"],
    dim: 16,
    layers: 1,
    heads: 2,
    registers: 2,
    codebookSize: 16,
    codeDim: 8,
    decay: 0.8,
    deadThreshold: 2,
    commitWeight: 10,
  };
}

function build(config = tinyConfig()): VQTokenizer {
  const store = new ParameterStore(gpu);
  const tok = new VQTokenizer(store, config, new InitRng(3));
  store.finalize();
  return tok;
}

/** Two jets (3 and 2 particles) in 4 slots. */
function sets() {
  const B = 2, N = 4;
  const valid = new Uint32Array([1, 1, 1, 0, 1, 1, 0, 0]);
  const x = randn(B * N * F, 5, -1.5, 1.5);
  for (let i = 0; i < B * N; i++) if (!valid[i]) x.fill(0, i * F, (i + 1) * F);
  return { B, N, valid, x };
}

Deno.test("vqvae setMaps: rows skip registers and padding", () => {
  const m = setMaps(new Uint32Array([0, 1, 1, 1, 0, 0]), 2, 3, 2);
  if (m.M !== 3 || m.rows.join() !== "3,4,7" || m.slots.join() !== "1,2,3") {
    throw new Error(JSON.stringify({ rows: m.rows, slots: m.slots }));
  }
  if (m.rowsInv[7] !== 2 || m.slotsInv[4] !== -1) throw new Error("inverse maps");
});

Deno.test("vqvae codes are the most cosine-similar codes; commitment = MSE(z, code); the straight-through gradient reaches the encoder", async () => {
  const tok = build();
  const { B, N, valid, x } = sets();
  const tape = new Tape(gpu);
  tok.store.zeroGrad();
  const X = tape.keep(gpu.upload(x, [B, N, F])), V = Validity.onTape(tape, valid, B, N);
  const out = tok.forward(tape, X, V);
  const [z, codes, cb, commit] = [
    await out.z.read(),
    await out.codes.read(),
    await tok.codebook.read(),
    (await out.commit.read())[0],
  ];
  const C = tok.config.codeDim, K = tok.config.codebookSize, M = codes.length;
  if (M !== 5) throw new Error(`M ${M}`);
  let mse = 0;
  for (let m = 0; m < M; m++) {
    const cos = Array.from({ length: K }, (_, k) => {
      let s = 0;
      for (let d = 0; d < C; d++) s += z[m * C + d] * cb[k * C + d];
      return s;
    });
    if (codes[m] !== cos.indexOf(Math.max(...cos))) throw new Error(`row ${m}: not the argmax`);
    for (let d = 0; d < C; d++) mse += (z[m * C + d] - cb[codes[m] * C + d]) ** 2;
  }
  assertClose([commit], [mse / (M * C)], { rtol: 1e-4 });
  // Reconstruction loss alone: its gradient crosses the quantiser into the encoder.
  const loss = ops.pointwiseLoss(
    tape,
    "huber",
    out.recon,
    tape.keep(gpu.upload(new Float32Array(M * F))),
  );
  tape.backward(loss);
  const grads = await tok.store.read("grads");
  const g = grads.get("tokenizer.input.weight")!;
  if (!g.some((v) => v !== 0)) {
    throw new Error("no gradient reached the encoder through the quantiser");
  }
  tape.dispose();
});

Deno.test("vqvae padding slots change neither codes nor reconstructions", async () => {
  const tok = build();
  const { B, N, valid, x } = sets();
  const run = async (xs: Float32Array, vs: Uint32Array, n: number) => {
    const tape = new Tape(gpu);
    const out = tok.forward(
      tape,
      tape.keep(gpu.upload(xs, [B, n, F])),
      Validity.onTape(tape, vs, B, n),
    );
    const r = { codes: await out.codes.read(), recon: await out.recon.read() };
    tape.dispose();
    return r;
  };
  const a = await run(x, valid, N);
  // Two more padded slots per jet, filled with junk.
  const N2 = N + 2, x2 = new Float32Array(B * N2 * F).fill(3), v2 = new Uint32Array(B * N2);
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      x2.set(x.subarray((b * N + n) * F, (b * N + n + 1) * F), (b * N2 + n) * F);
      v2[b * N2 + n] = valid[b * N + n];
    }
  }
  const b = await run(x2, v2, N2);
  assertClose(b.codes, a.codes, { atol: 0 });
  assertClose(b.recon, a.recon, { atol: 1e-5, rtol: 1e-4 });
});

Deno.test("vqvae k-means initialisation gives unit codes and cluster sizes summing to the points", async () => {
  const tok = build();
  const z = randn(200 * 8, 9, -2, 2);
  await tok.initCodebook(z, 10, 1);
  const cb = await tok.codebook.read(), size = await tok.size.read();
  for (let k = 0; k < 16; k++) {
    const n = Math.hypot(...cb.subarray(k * 8, (k + 1) * 8));
    assertClose([n], [1], { atol: 1e-5 });
  }
  assertClose([Array.from(size).reduce((s, v) => s + v, 0)], [200], { atol: 1e-3 });
  let msg = "";
  try {
    await tok.initCodebook(randn(10 * 8, 1));
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes("larger batch")) throw new Error(`no clear error: ${msg}`);
});

const data = `${tmp}/train.h5`;
writeJetFile(data, synthJetClass(700, { seed: 7 }));
const pre = QuantileTransform.fit([synthJetClass(400, { seed: 8 })], { levels: 100 });

Deno.test("vqvae tokenizer training: the loss falls, the report is sane, the file loads frozen with the same codes", async () => {
  const out = `${tmp}/tok`;
  const rep = await trainTokenizer({
    gpu,
    config: tinyConfig(),
    train: {
      steps: 30,
      batch: 16,
      lr: 3e-3,
      weightDecay: 1e-5,
      warmup: 3,
      seed: 1,
      logEvery: 5,
      valBatches: 2,
    },
    files: [data],
    preprocessor: pre,
    out,
    log: () => {},
  });
  const rows = (await Deno.readTextFile(`${out}/metrics.csv`)).trim().split("\n").slice(1)
    .map((r) => r.split(",").map(Number));
  const first = rows[0][3], last = rows.at(-1)![3]; // huber
  if (!(last < 0.8 * first)) throw new Error(`huber ${first} -> ${last}`);
  if (!(rep.perplexity >= 1 && rep.perplexity <= 16 && rep.usage > 0 && rep.usage <= 1)) {
    throw new Error(`report ${JSON.stringify(rep)}`);
  }
  if (!(rep.particles > 0 && rep.mae.pt >= 0)) throw new Error("report fields");
  const { tokenizer, preprocessor } = await VQTokenizer.load(gpu, `${out}/tokenizer.safetensors`);
  if (!tokenizer.store.group("tokenizer").frozen) throw new Error("loaded tokenizer not frozen");
  if (JSON.stringify(preprocessor.toJSON()) !== JSON.stringify(pre.toJSON())) {
    throw new Error("preprocessing not saved");
  }
  const saved = JSON.parse(await Deno.readTextFile(`${out}/vqvae.json`));
  if (saved.steps !== 30) throw new Error("vqvae.json");
  await Deno.stat(`${out}/plots/train_loss.svg`);

  // The MPM task's targets are the tokenizer's codes of each jet's dropped particles as a set.
  const block = synthJetClass(4, { seed: 2 });
  const batch = {
    size: block.n,
    nParticles: block.nParticles,
    features: block.features,
    x: pre.transform(block),
    raw: block.csts,
    ids: block.ids!,
    valid: Uint32Array.from(block.valid),
    streamIndex: 0,
  };
  const m = randomMasking(batch.valid, batch.size, batch.nParticles, { seed: 3 });
  const inp = prepareInputs(gpu, batch, m, { registers: 2, maxParticles: 128 });
  const store = new ParameterStore(gpu);
  const task = new VQVAETask(store, new InitRng(1), 8, tokenizer);
  store.finalize();
  const tape = new Tape(gpu);
  const got = await task.targets(tape, inp).read();
  // Independent: run the tokenizer on the dropped particles laid out jet by jet.
  const counts = Array.from(inp.dropCount), Nd = Math.max(...counts);
  const xs = new Float32Array(batch.size * Nd * F), vs = new Uint32Array(batch.size * Nd);
  let k = 0;
  for (let b = 0; b < batch.size; b++) {
    for (let j = 0; j < counts[b]; j++, k++) {
      xs.set(inp.xDropHost.subarray(k * F, (k + 1) * F), (b * Nd + j) * F);
      vs[b * Nd + j] = 1;
    }
  }
  const ref = tokenizer.forward(
    tape,
    tape.keep(gpu.upload(xs, [batch.size, Nd, F])),
    Validity.onTape(tape, vs, batch.size, Nd),
  );
  assertClose(got, await ref.codes.read(), { atol: 0 });
  tape.dispose();
  inp.dispose();

  // Pre-training with the task: the loss falls; another preprocessing is refused clearly.
  const cfg = preset("small");
  cfg.encoder = { ...cfg.encoder, dim: 16, layers: 1, heads: 2, registers: 2 };
  cfg.decoder = { dim: 8, layers: 1, heads: 2, ffMult: 2 };
  cfg.tasks = { vqvae: { weight: 1, tokenizer: `${out}/tokenizer.safetensors` } };
  // 80 steps: the k-means-initialised codebook (fitted to convergence) gives balanced codes,
  // whose cross-entropy falls more slowly than a first-iteration codebook's.
  cfg.train = {
    ...cfg.train,
    steps: 80,
    batch: 16,
    lr: 3e-3,
    warmup: 2,
    valEvery: 80,
    valBatches: 1,
    logEvery: 5,
    checkpointEvery: 80,
    seed: 1,
  };
  const runDir = `${tmp}/run`;
  await pretrain({
    gpu,
    config: cfg,
    trainFiles: [data],
    out: runDir,
    preprocessor: pre,
    log: () => {},
  });
  const mrows = (await Deno.readTextFile(`${runDir}/metrics.csv`)).trim().split("\n");
  const head = mrows[0].split(","), c = head.indexOf("vqvae");
  const tr = mrows.slice(1).map((r) => r.split(",")).filter((r) => r[1] === "train");
  const a = (+tr[0][c] + +tr[1][c]) / 2, z = (+tr.at(-1)![c] + +tr.at(-2)![c]) / 2;
  if (!(z < 0.9 * a)) throw new Error(`vqvae task loss ${a} -> ${z}`);
  const other = QuantileTransform.fit([synthJetClass(100, { seed: 99 })], { levels: 20 });
  let msg = "";
  try {
    await pretrain({
      gpu,
      config: cfg,
      trainFiles: [data],
      out: `${tmp}/run2`,
      preprocessor: other,
      log: () => {},
    });
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes("another preprocessing")) throw new Error(`no clear error: ${msg}`);
});

Deno.test("vqvae loading a file that is not a tokenizer fails clearly", async () => {
  const p = `${tmp}/not.safetensors`;
  await Deno.writeTextFile(p, "nope");
  let msg = "";
  try {
    await VQTokenizer.load(gpu, p);
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes("deno task vqvae")) throw new Error(`no clear error: ${msg}`);
});
