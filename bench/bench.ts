/**
 * `deno task bench [--json] [--quick|--tiny] [--paper-shapes] [--only gpu|ssfm|presets|profile|data]
 * [--paper-batch N] [--peer-device cpu|cuda]`: kernel and training-step benchmarks on the adapter
 * found. Prints a table, or one JSON object per figure with `--json`:
 * `{"name","shape","value","unit","adapter"}`. Figures are recorded in bench/RESULTS.md.
 *
 * @module
 */
import { parse } from "../tasks/_cli.ts";
import type { CommandSpec } from "../tasks/_flags.ts";
import { ParameterStore } from "../src/autograd/parameters.ts";
import * as ops from "../src/autograd/ops.ts";
import { Tape } from "../src/autograd/tape.ts";
import { type Gpu, requestGpu } from "../src/gpu/gpu.ts";
import type { Tensor } from "../src/gpu/tensor.ts";
import { attentionBackward, attentionForward } from "../src/kernels/attention.ts";
import { matmul, type MatmulOptions } from "../src/kernels/matmul.ts";
import { linearSwiglu } from "../src/kernels/linear_swiglu.ts";
import { swigluForward } from "../src/kernels/elementwise.ts";
import { randomNormal } from "../src/kernels/random.ts";
import { InitRng } from "../src/nn/init.ts";
import { LayerNorm, Linear, TransformerBlock } from "../src/nn/layers.ts";
import { AdamW } from "../src/optim/adamw.ts";
import { CouplingFlow } from "../src/mpm/cnf.ts";
import { preset, withSSFM } from "../src/mpm/config.ts";
import { MPMModel } from "../src/mpm/model.ts";
import { SSFM_TASK, ssfmOptions, SSFMTask } from "../src/mpm/ssfm.ts";
import { prepareInputs } from "../src/mpm/prepare.ts";
import { benchBatch, presetBenchmarks, runPeerScript, torchPython } from "./preset_bench.ts";
import { profileBenchmarks } from "./profile_bench.ts";

interface Figure {
  name: string;
  shape: string;
  value: number;
  unit: string;
  adapter: string;
}

const SPEC = {
  name: "deno task bench",
  summary:
    "Kernel, training-step and data benchmarks on this adapter, next to PyTorch where installed.",
  flags: {
    json: {
      type: "bool",
      help: 'one JSON object per figure: {"name","shape","value","unit","adapter"}',
    },
    only: {
      type: "string",
      choices: ["gpu", "ssfm", "presets", "profile", "data"],
      help:
        "one group (gpu: kernels, a training step, CNF; profile: device time per kernel of a pre-training step)",
    },
    quick: { type: "bool", help: "fewer shapes and repetitions" },
    tiny: {
      type: "bool",
      help: "tiny shapes, one repetition (a smoke test; bench/device.sh --dry-run)",
    },
    "paper-shapes": {
      type: "bool",
      help: "also time matmul and attention at the paper preset's shapes (batch 1000)",
    },
    "paper-batch": {
      type: "int",
      min: 1,
      help: "batch of the paper preset in --only presets (default 16; 1000 in the paper)",
    },
    "no-peer": { type: "bool", help: "leave out the PyTorch peers" },
    "peer-device": {
      type: "string",
      choices: ["cpu", "cuda"],
      help: "where the PyTorch peer runs (cuda: fp32 eager and bf16 + SDPA)",
    },
  },
} satisfies CommandSpec;

let parsed;
try {
  parsed = parse(Deno.args, SPEC);
} catch (e) {
  console.error(`error: ${(e as Error).message} (see deno task bench --help)`);
  Deno.exit(2);
}
const args = { values: parsed.values };
const only = args.values.only;
const paperBatch = args.values["paper-batch"];
const peerDevice = args.values["peer-device"];
const noPeer = !!args.values["no-peer"];
const json = !!args.values.json, tiny = !!args.values.tiny;
const paperShapes = !!args.values["paper-shapes"];
const quick = tiny || !!args.values.quick;
const gpu = await requestGpu();
const figures: Figure[] = [];

function report(name: string, shape: string, value: number, unit: string): void {
  const f = { name, shape, value: Number(value.toPrecision(4)), unit, adapter: gpu.adapterName };
  figures.push(f);
  if (json) console.log(JSON.stringify(f));
  else {console.log(
      `${name.padEnd(22)} ${shape.padEnd(24)} ${String(f.value).padStart(10)} ${unit}`,
    );}
}

/** Median seconds per call of `fn` (each call one submitted step), after a warm-up. */
async function timeIt(g: Gpu, fn: () => void, minReps = 3, budget = 2): Promise<number> {
  fn();
  await g.sync();
  const times: number[] = [];
  const start = performance.now();
  while (
    times.length < minReps || (performance.now() - start) / 1000 < budget && times.length < 50
  ) {
    const t0 = performance.now();
    const reps = tiny ? 1 : 4;
    for (let r = 0; r < reps; r++) {
      fn();
      g.submit();
    }
    await g.sync();
    times.push((performance.now() - t0) / 1000 / reps);
    if (quick) break;
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function normal(shape: number[], stream: number): Tensor {
  return randomNormal(gpu, shape, { seed: 1, stream, offset: 0 });
}

if (!json) console.log(`adapter: ${gpu.adapterName} (matmul path: ${gpu.matmulPath})\n`);

if (only === undefined || only === "gpu") await gpuBenchmarks();
if (only === undefined || only === "ssfm") await ssfmBenchmark();
if (only === undefined || only === "presets") {
  await presetBenchmarks(gpu, report, (l) => console.error(l), {
    quick,
    tiny,
    paperBatch,
    peerDevice,
    noPeer,
  });
}
if (only === undefined || only === "profile") {
  await profileBenchmarks(
    gpu,
    report,
    (l) => console.error(l),
    tiny ? [["small", 8]] : quick ? [["small", 64]] : [["small", 64], ["paper", 16]],
  );
}
if (only === undefined || only === "data") {
  // Imported lazily: the data benchmarks need the npm packages (h5wasm, jsroot), the GPU ones do
  // not, so `--only gpu` and `--only presets` run on a machine with no npm cache.
  const { dataBenchmarks } = await import("./data_bench.ts");
  await dataBenchmarks((name, shape, value, unit) => {
    const f = { name, shape, value: Number(value.toPrecision(4)), unit, adapter: "cpu" };
    if (json) console.log(JSON.stringify(f));
    else {console.log(
        `${name.padEnd(22)} ${shape.padEnd(24)} ${String(f.value).padStart(10)} ${unit}`,
      );}
  }, { bigBytes: quick ? 2e8 : 2.2e9 });
}
gpu.destroy();

async function gpuBenchmarks(): Promise<void> {
  // Matmul GFLOP/s. The paper shapes are the paper preset's linear layers at batch 1000 jets of
  // 40 particles + 8 registers (48 000 token rows): QKV (512 -> 1536), SwiGLU in (512 -> 2048)
  // and out (1024 -> 512), plus one large square product for the fraction of peak.
  const shapes: [number, number, number][] = tiny ? [[256, 64, 64], [100, 37, 5]] : [
    [4096, 128, 128],
    [4096, 128, 512],
    [4096, 512, 128],
    [77000, 512, 512],
  ];
  if (quick && !tiny) shapes.splice(1);
  const rows = tiny ? 480 : 48000;
  if (paperShapes) shapes.push([rows, 512, 1536], [rows, 512, 2048], [rows, 1024, 512]);
  if (paperShapes && !tiny) shapes.push([8192, 8192, 8192]);
  for (const [m, k, n] of shapes) {
    const a = normal([m, k], 1), b = normal([k, n], 2);
    const sec = await timeIt(gpu, () => matmul(a, b).dispose(), 2, m * n > 1e8 ? 1 : 2);
    report("matmul", `${m}x${k}x${n}`, (2 * m * k * n) / sec / 1e9, "GFLOP/s");
    if (gpu.matmulPath === "storage") {
      // Each storage kernel forced (design check of the size rule and the tuner's candidates).
      const forced = [["storage", "register"], ["tiled", "tiled64"], ["tiled128", "tiled128"]];
      for (const [path, name] of forced as [MatmulOptions["path"], string][]) {
        const r = await timeIt(gpu, () => matmul(a, b, { path }).dispose(), 2, 1);
        report(`matmul_${name}`, `${m}x${k}x${n}`, (2 * m * k * n) / r / 1e9, "GFLOP/s");
        if (path === "storage") continue;
        // The same kernel with scalar global loads (what vec4 loads gain on this adapter).
        const s = await timeIt(gpu, () => matmul(a, b, { path, vec4Loads: false }).dispose(), 2, 1);
        report(`matmul_${name}_scalar`, `${m}x${k}x${n}`, (2 * m * k * n) / s / 1e9, "GFLOP/s");
      }
    }
    a.dispose();
    b.dispose();
  }

  if (gpu.matmulPath === "storage") {
    // The SwiGLU feed-forward's first half, fused (linearSwiglu) against matmul + swiglu, at the
    // small preset's shape and, with --paper-shapes, the paper's (512 -> 2 x 1024 over 48 000 rows).
    const ff: [number, number, number][] = tiny ? [[480, 32, 64]] : [[3072, 64, 128]];
    if (paperShapes) ff.push(tiny ? [480, 64, 128] : [48000, 512, 1024]);
    for (const [rows, k, hd] of ff) {
      const x = normal([rows, k], 7), w = normal([2 * hd, k], 8), b = normal([2 * hd], 9);
      const shape = `${rows}x${k}->${hd}`;
      const fused = await timeIt(gpu, () => linearSwiglu(x, w, b).h.dispose());
      report("swiglu_ff_fused", shape, fused * 1000, "ms");
      const apart = await timeIt(gpu, () => {
        const ab = matmul(x, w, { transB: true, bias: b });
        swigluForward(ab).dispose();
        ab.dispose();
      });
      report("swiglu_ff_unfused", shape, apart * 1000, "ms");
      for (const t of [x, w, b]) t.dispose();
    }
  }

  // Attention forward and backward: B jets x N tokens x H heads x model dim D. The paper shape is
  // the paper encoder (8 heads x 512) over 1000 jets of 40 particles + 8 registers.
  const attn: [number, number, number, number][] = tiny ? [[4, 16, 2, 32]] : [[64, 64, 4, 128]];
  if (paperShapes) attn.push(tiny ? [8, 48, 8, 512] : [1000, 48, 8, 512]);
  for (const [B, N, H, D] of attn) {
    const qkv = normal([B, N, 3 * D], 3), dout = normal([B, N, D], 4);
    const valid = gpu.upload(new Uint32Array(B * N).fill(1), [B, N]);
    const args = {
      q: { tensor: qkv, stride: 3 * D, offset: 0 },
      k: { tensor: qkv, stride: 3 * D, offset: D },
      v: { tensor: qkv, stride: 3 * D, offset: 2 * D },
      valid,
      batch: B,
      nq: N,
      nk: N,
      heads: H,
      headDim: D / H,
    };
    const shape = `${B}x${N}x${H}x${D}`;
    const fwd = await timeIt(gpu, () => {
      const s = attentionForward(args);
      s.out.dispose();
      s.lse.dispose();
    });
    report("attention_forward", shape, fwd * 1000, "ms");
    const saved = attentionForward(args);
    const dqkv = gpu.empty([B, N, 3 * D]);
    const bwd = await timeIt(gpu, () =>
      attentionBackward(args, saved, dout, {
        dq: { tensor: dqkv, stride: 3 * D, offset: 0 },
        dkv: { tensor: dqkv, stride: 3 * D, kOffset: D, vOffset: 2 * D },
      }));
    report("attention_backward", shape, bwd * 1000, "ms");
    if (gpu.matmulPath === "storage") {
      // The flat kernels the workgroup-tiled defaults replace (design check).
      const flat = { ...args, storageKernel: "flat" as const };
      const f = await timeIt(gpu, () => {
        const s = attentionForward(flat);
        s.out.dispose();
        s.lse.dispose();
      });
      report("attention_forward_flat", shape, f * 1000, "ms");
      const b = await timeIt(gpu, () =>
        attentionBackward(flat, saved, dout, {
          dq: { tensor: dqkv, stride: 3 * D, offset: 0 },
          dkv: { tensor: dqkv, stride: 3 * D, kOffset: D, vOffset: 2 * D },
        }));
      report("attention_backward_flat", shape, b * 1000, "ms");
    }
    for (const t of [qkv, dout, valid, dqkv, saved.out, saved.lse]) t.dispose();
  }

  // Training throughput: 4-layer dim-128 encoder, batch 64 jets x 64 particles.
  {
    const [B, N, F, D, L] = tiny ? [4, 16, 7, 32, 2] : [64, 64, 7, 128, 4];
    const store = new ParameterStore(gpu);
    const ctx = { store, rng: new InitRng(0) };
    const embed = new Linear(ctx, "embed", F, D);
    const blocks = Array.from(
      { length: L },
      (_, i) => new TransformerBlock(ctx, `encoder.layers.${i}`, D, 4),
    );
    const norm = new LayerNorm(ctx, "encoder.norm", D);
    const head = new Linear(ctx, "head", D, F);
    store.finalize();
    const opt = new AdamW(store);
    const x = normal([B, N, F], 5), y = normal([B, N, F], 6);
    const valid = gpu.upload(new Uint32Array(B * N).fill(1), [B, N]);
    const step = () => {
      store.zeroGrad();
      const tape = new Tape(gpu);
      let h = embed.forward(tape, x);
      for (const blk of blocks) h = blk.forward(tape, h, valid);
      const loss = ops.pointwiseLoss(tape, "mse", head.forward(tape, norm.forward(tape, h)), y, {
        valid,
      });
      tape.backward(loss);
      opt.step();
      tape.dispose();
    };
    const sec = await timeIt(gpu, step, 2, 4);
    report("train_step", `enc${L}x${D} b${B}x${N}`, sec, "s");
    report("train_throughput", `enc${L}x${D} b${B}x${N}`, B / sec, "jets/s");
  }

  // CNF head (6 RQ-spline couplings, 8 bins, conditioner 64, context 128) on M particles:
  // sampling (two-pass inverse per layer) and the density pass with its backward.
  {
    const M = tiny ? 128 : quick ? 1024 : 8192, F = 7, C = 128;
    const store = new ParameterStore(gpu);
    const flow = new CouplingFlow({ store, rng: new InitRng(0) }, "flow", F, C);
    store.finalize();
    const z = normal([M, F], 7), c = normal([M, C], 8);
    const sample = await timeIt(gpu, () => {
      const tape = new Tape(gpu);
      flow.inverse(tape, z, c);
      tape.dispose();
    });
    report("cnf_sample", `6x8bins M${M}`, M / sample, "particles/s");
    const density = await timeIt(gpu, () => {
      store.zeroGrad();
      const tape = new Tape(gpu);
      const { z: out, logdet } = flow.forward(tape, z, c);
      const loss = ops.weightedSum(tape, [[ops.meanAll(tape, logdet), -1], [
        ops.pointwiseLoss(tape, "mse", out, c.gpu.zeros([M, F])),
        0.5,
      ]]);
      tape.backward(loss);
      tape.dispose();
    });
    report("cnf_density_fwd_bwd", `6x8bins M${M}`, M / density, "particles/s");
  }
}

/** SSFM whole-jet generation throughput. */
async function ssfmBenchmark(): Promise<void> {
  // SSFM whole-jet generation with the small preset's shapes (encoder 64x3 with 8 registers,
  // decoder 64x3): B jets of 40 particles, `steps` midpoint steps (2 velocity passes each),
  // beside an SSFM training step on the same jets and the same generation in PyTorch.
  const cfg = withSSFM(preset("small"));
  const [B, n, steps] = tiny ? [4, 10, 3] : quick ? [16, 40, 10] : [64, 40, 50];
  const store = new ParameterStore(gpu);
  const model = new MPMModel(store, cfg);
  const ssfm = new SSFMTask(store, new InitRng(1), ssfmOptions(cfg));
  store.finalize();
  const mult = new Int32Array(B).fill(n);
  await ssfm.generate(model.backbone, mult, { steps: 2 });
  const times: number[] = [];
  for (let r = 0; r < 2; r++) {
    const t0 = performance.now();
    await ssfm.generate(model.backbone, mult, { steps, seed: r });
    times.push((performance.now() - t0) / 1000);
  }
  const sec = Math.min(...times), shape = `dec64x3 B${B}x${n} ${steps} steps`;
  const passes = (2 * steps * B) / sec;
  report("ssfm_generate", shape, B / sec, "jets/s");
  report("ssfm_generate_passes", shape, passes, "jets/s per decoder pass");
  // One SSFM pre-training step on the same jets (the masking drops 0-80 % of each).
  const opt = new AdamW(store, { lr: 1e-4, weightDecay: 1e-5, maxNorm: 1 });
  const batch = benchBatch(B, n, 128, cfg.features);
  const masking = SSFM_TASK.masking!(cfg.tasks.ssfm!, cfg);
  const trainStep = () => {
    const inp = prepareInputs(gpu, batch, masking(batch, 1), {
      registers: cfg.encoder.registers,
      maxParticles: cfg.maxParticles,
    });
    store.zeroGrad();
    const tape = new Tape(gpu);
    tape.backward(ssfm.loss(tape, model.forward(tape, inp), inp));
    opt.step();
    tape.dispose();
    inp.dispose();
  };
  const train = await timeIt(gpu, trainStep);
  report("ssfm_train_step", `dec64x3 B${B}x${n}`, B / train, "jets/s");
  report("ssfm_pass_vs_train_step", shape, passes / (B / train), "x");
  store.dispose();
  const py = noPeer ? null : await torchPython();
  if (!py) return;
  const r = await runPeerScript(
    py,
    "ssfm_torch.py",
    [
      ...["--batch", String(B), "--particles", String(n), "--steps", String(steps)],
    ],
    `ssfm B${B}x${n} ${steps} steps`,
    (l) => console.error(l),
  );
  if (!r) return;
  report(
    "pytorch_ssfm_generate",
    `${shape} (torch ${r.torch}, ${r.threads} threads)`,
    r.jets_per_s as number,
    "jets/s",
  );
  report("ratio_ssfm_webgpu_over_pytorch", shape, B / sec / (r.jets_per_s as number), "x");
}
