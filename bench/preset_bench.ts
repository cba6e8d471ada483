/**
 * Throughput of the `small` and `paper` presets (jets/s, peak GPU memory) for a pre-training
 * step, `embed`'s forward pass, a fine-tuning (classification) step and `evaluate`'s forward pass,
 * the first three side by side with the same models in PyTorch on the same machine
 * (`bench/peers/mpm_torch.py`) when PyTorch is available. Every jet has the same number of real
 * particles, 40 % dropped in pre-training.
 *
 * @module
 */
import { ParameterStore } from "../src/autograd/parameters.ts";
import * as ops from "../src/autograd/ops.ts";
import { Tape } from "../src/autograd/tape.ts";
import type { JetBatch } from "../src/data/loader.ts";
import { randomMasking } from "../src/data/masking.ts";
import type { Gpu } from "../src/gpu/gpu.ts";
import { preset } from "../src/mpm/config.ts";
import { MPMModel } from "../src/mpm/model.ts";
import { prepareInputs } from "../src/mpm/prepare.ts";
import { IdTask, RegTask } from "../src/mpm/tasks.ts";
import { InitRng } from "../src/nn/init.ts";
import { Validity } from "../src/nn/validity.ts";
import { AdamW } from "../src/optim/adamw.ts";
import { tuneMatmuls } from "../src/kernels/matmul_tuner.ts";
import { Backbone } from "../src/mpm/backbone.ts";
import { ClassAttentionHead } from "../src/heads/heads.ts";
import { trimBatch } from "../src/mpm/prepare.ts";
import type { Report } from "./data_bench.ts";

/**
 * Finds a Python with torch: `MPM_TORCH_PYTHON` when set, else Debian's python3-torch in
 * /usr/bin/python3, else the `python3` on the PATH (on the GPU machine, the one that holds torch).
 */
export async function torchPython(): Promise<string | null> {
  const given = Deno.env.get("MPM_TORCH_PYTHON");
  for (const py of given ? [given] : ["/usr/bin/python3", "python3"]) {
    try {
      const r = await new Deno.Command(py, {
        args: ["-c", "import torch"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (r.success) return py;
    } catch { /* not found */ }
  }
  return null;
}

/** Options of {@linkcode presetBenchmarks}. */
export interface PresetBenchOptions {
  /** Only the small preset, 3 steps. */
  quick?: boolean;
  /** Only the small preset at batch 8, 1 step (a smoke test). */
  tiny?: boolean;
  /**
   * Batch of the paper preset: 1000 (the paper's) on a GPU; 16 on a CPU driver, where a step
   * at 1000 takes minutes (pass 1000 to measure it anyway).
   */
  paperBatch?: number;
  /** Where the PyTorch peer runs: "cpu" (default) or "cuda". */
  peerDevice?: string;
  /** Leave out the PyTorch peer. */
  noPeer?: boolean;
}

/** Jets with `n` real particles of N slots (the same for every workload and the peer). */
export function benchBatch(B: number, n: number, N: number, features: readonly string[]): JetBatch {
  const valid = new Uint32Array(B * N);
  for (let b = 0; b < B; b++) valid.fill(1, b * N, b * N + n);
  const x = Float32Array.from(
    { length: B * N * 7 },
    (_, i) => (valid[Math.floor(i / 7)] ? Math.sin(i) : 0),
  );
  const ids = Int32Array.from({ length: B * N }, (_, i) => (valid[i] ? i % 8 : 0));
  const labels = Int32Array.from({ length: B }, (_, b) => b % 10);
  return {
    size: B,
    nParticles: N,
    features: [...features],
    x,
    raw: x,
    ids,
    valid,
    labels,
    streamIndex: 0,
  };
}

/** One pre-training step of the MAE model (ID + regression heads, AdamW with clipping). */
export function pretrainWorkload(gpu: Gpu, name: "small" | "paper") {
  const cfg = preset(name);
  const store = new ParameterStore(gpu);
  const model = new MPMModel(store, cfg);
  const rng = new InitRng(1);
  const tasks = [
    new IdTask(store, rng, model.headDim, 0.3),
    new RegTask(store, rng, model.headDim, 7),
  ];
  store.finalize();
  const opt = new AdamW(store, { lr: 1e-3, weightDecay: 1e-5, maxNorm: 1 });
  const step = (batch: JetBatch) => {
    const m = randomMasking(batch.valid, batch.size, batch.nParticles, { seed: 1, fraction: 0.4 });
    const inp = prepareInputs(gpu, batch, m, {
      registers: cfg.encoder.registers,
      maxParticles: cfg.maxParticles,
    });
    store.zeroGrad();
    const tape = new Tape(gpu);
    const pass = model.forward(tape, inp);
    const loss = ops.weightedSum(
      tape,
      tasks.map((t) => [t.loss(tape, pass, inp), t.weight] as const),
    );
    tape.backward(loss);
    opt.step();
    tape.dispose();
    inp.dispose();
    gpu.submit();
  };
  return { cfg, model, step, dispose: () => store.dispose() };
}

/**
 * One fine-tuning step of jet classification: the backbone on whole jets, the class-attention
 * head, cross-entropy over 10 classes, backward through both, AdamW with clipping.
 */
function finetuneWorkload(gpu: Gpu, name: "small" | "paper") {
  const cfg = preset(name);
  const store = new ParameterStore(gpu);
  const rng = new InitRng(2);
  const backbone = Backbone.build(store, {
    encoder: cfg.encoder,
    features: cfg.features,
    useIds: cfg.useIds,
    maxParticles: cfg.maxParticles,
  }, rng);
  const head = new ClassAttentionHead(store, rng, cfg.encoder.dim, 10);
  store.finalize();
  const opt = new AdamW(store, { lr: 1e-4, weightDecay: 1e-5, maxNorm: 1 });
  const logitsOf = (tape: Tape, batch: JetBatch) => {
    const t = trimBatch(batch), B = t.size, n = t.nParticles;
    const x = tape.keep(gpu.upload(t.x, [B, n, t.features.length]));
    const ids = tape.keep(gpu.upload(t.ids, [B, n]));
    const enc = backbone.forward(tape, x, ids, Validity.onTape(tape, t.valid, B, n));
    return head.forward(tape, enc.out, enc.valid.tensor);
  };
  const step = (batch: JetBatch) => {
    store.zeroGrad();
    const tape = new Tape(gpu);
    const logits = logitsOf(tape, batch);
    const labels = tape.keep(gpu.upload(batch.labels!));
    tape.backward(ops.crossEntropy(tape, logits, labels));
    opt.step();
    tape.dispose();
    gpu.submit();
  };
  // deno task evaluate's path: forward only, the logits read back once per batch.
  const evaluate = async (batch: JetBatch) => {
    const tape = new Tape(gpu);
    const read = logitsOf(tape, batch).read();
    tape.dispose();
    gpu.submit();
    await read;
  };
  return { step, evaluate, dispose: () => store.dispose() };
}

/**
 * Seconds per call of `step(big)` over `steps` calls, after a warm-up call on `warm` (and, on the
 * storage path, a call on `big` followed by matmul tuning, as a training run does).
 */
async function secondsPerStep(
  gpu: Gpu,
  step: (b: JetBatch) => void | Promise<unknown>,
  warm: JetBatch,
  big: JetBatch,
  steps: number,
): Promise<number> {
  await step(warm);
  if (gpu.matmulPath === "storage") {
    // One step at the real batch notes its matmul shape classes; tuning picks their kernels.
    await step(big);
    await tuneMatmuls(gpu);
  }
  await gpu.sync();
  gpu.resetPeakBytes();
  const t0 = performance.now();
  for (let s = 0; s < steps; s++) await step(big);
  await gpu.sync();
  return (performance.now() - t0) / 1000 / steps;
}

/**
 * The small and paper presets' pre-training step, `embed`'s forward pass and a fine-tuning
 * step here and, when possible, in PyTorch on the same machine, with their ratios.
 */
export async function presetBenchmarks(
  gpu: Gpu,
  report: Report,
  log: (s: string) => void,
  opts: PresetBenchOptions = {},
): Promise<void> {
  const py = opts.noPeer ? null : await torchPython();
  if (!py && !opts.noPeer) {
    log("PyTorch peer not available: install python3-torch (Debian) to get the ratio");
  }
  const peerDevice = opts.peerDevice ?? "cpu";
  const paperBatch = opts.paperBatch ?? (gpu.isSoftware ? 16 : 1000);
  const runs: ["small" | "paper", number, number][] = opts.tiny
    ? [["small", 8, 1]]
    : opts.quick
    ? [["small", 64, 3]]
    : [["small", 64, 5], ["paper", paperBatch, paperBatch >= 256 ? 1 : 3]];
  // On a GPU the peer runs twice: fp32 eager (same arithmetic as ours) and its fastest form,
  // bf16 autocast with fused scaled-dot-product attention.
  const peerModes = peerDevice.startsWith("cuda") ? ["fp32", "bf16-sdpa"] : ["fp32"];
  const n = 40, N = 128;
  for (const [name, B, steps] of runs) {
    const shape = `${name} b${B}x${n}${gpu.precision === "f16" ? " f16" : ""}`;
    const features = preset(name).features;
    // Pipelines compile on a small warm-up batch (shapes are uniforms), then the real batch runs.
    const warm = benchBatch(Math.min(B, 8), n, N, features), batch = benchBatch(B, n, N, features);
    const ours: Record<string, number> = {};
    const pre = pretrainWorkload(gpu, name);
    const sec = await secondsPerStep(gpu, pre.step, warm, batch, steps);
    ours.pretrain = B / sec;
    report("mpm_train_throughput", shape, B / sec, "jets/s");
    report("mpm_train_peak_gpu_mem", shape, gpu.peakAllocatedBytes / 2 ** 20, "MiB");
    // Inference on the same jets (deno task embed's path: forward only, one readback per batch).
    const embed = (b: JetBatch) => pre.model.backbone.embedBatch(b);
    const embedSec = await secondsPerStep(gpu, embed, warm, batch, steps);
    ours.embed = B / embedSec;
    report("mpm_embed_throughput", shape, B / embedSec, "jets/s");
    report("mpm_embed_vs_train_step", shape, sec / embedSec, "x");
    pre.dispose();
    const ft = finetuneWorkload(gpu, name);
    const ftSec = await secondsPerStep(gpu, ft.step, warm, batch, steps);
    ours.finetune = B / ftSec;
    report("mpm_finetune_throughput", shape, ours.finetune, "jets/s");
    const evalSec = await secondsPerStep(gpu, ft.evaluate, warm, batch, steps);
    report("mpm_evaluate_throughput", shape, B / evalSec, "jets/s");
    report("mpm_evaluate_vs_finetune_step", shape, ftSec / evalSec, "x");
    ft.dispose();
    gpu.trim(); // hand the pool's memory back before the peer runs
    if (!py) continue;
    for (const workload of ["pretrain", "embed", "finetune"] as const) {
      for (const mode of peerModes) {
        const r = await runPeer(py, { preset: name, batch: B, steps, particles: n }, {
          device: peerDevice,
          mode,
          workload,
        }, log);
        if (!r) continue;
        const tag = mode === "fp32" ? peerDevice : `${peerDevice}_${mode.replace("-", "_")}`;
        const what = workload === "pretrain" ? "" : `${workload}_`;
        report(
          `pytorch_${what}${tag}_throughput`,
          `${shape} (torch ${r.torch}, ${
            peerDevice === "cpu" ? `${r.threads} threads, BLAS ${r.blas}` : `${peerDevice} ${mode}`
          })`,
          r.jets_per_s,
          "jets/s",
        );
        report(
          `ratio_${what}webgpu_over_pytorch${mode === "fp32" ? "" : `_${mode.replace("-", "_")}`}`,
          shape,
          ours[workload] / r.jets_per_s,
          "x",
        );
      }
    }
  }
}

/** What the peer prints: its throughput and the setting it ran under. */
interface PeerResult {
  jets_per_s: number;
  torch: string;
  threads: number;
  blas: string;
}

/**
 * Environment variables that handicap the peer's BLAS when inherited (a core-type override picks
 * slow kernels, a wrong L2 size mis-blocks them). The peer runs with them removed, at its best.
 */
const PEER_ENV_OVERRIDES = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_VERBOSE"];

/** Runs `bench/peers/mpm_torch.py` once; logs its setting, or why it failed. */
function runPeer(
  py: string,
  shape: { preset: string; batch: number; steps: number; particles: number },
  how: { device: string; mode: string; workload: string },
  log: (s: string) => void,
): Promise<PeerResult | null> {
  return runPeerScript(
    py,
    "mpm_torch.py",
    [
      ...["--preset", shape.preset, "--batch", String(shape.batch)],
      ...["--steps", String(shape.steps), "--particles", String(shape.particles)],
      ...["--device", how.device, "--mode", how.workload],
      ...(how.mode === "bf16-sdpa" ? ["--amp", "bf16", "--sdpa"] : []),
    ],
    `${shape.preset} b${shape.batch} ${how.workload} ${how.mode}`,
    log,
  ) as Promise<
    PeerResult | null
  >;
}

/**
 * Runs a peer script of `bench/peers/` with the handicapping BLAS overrides removed; returns the
 * JSON object of its last output line, or null (and logs why) when it failed.
 *
 * @param py the Python that holds torch ({@linkcode torchPython})
 * @param script file name in `bench/peers/`
 * @param args its arguments
 * @param label what the log line calls it
 * @param log where the setting (or the failure) is logged
 */
export async function runPeerScript(
  py: string,
  script: string,
  args: string[],
  label: string,
  log: (s: string) => void,
): Promise<Record<string, unknown> | null> {
  const env = Deno.env.toObject();
  const removed = PEER_ENV_OVERRIDES.filter((k) => k in env);
  for (const k of removed) delete env[k];
  const out = await new Deno.Command(py, {
    args: [new URL(`./peers/${script}`, import.meta.url).pathname, ...args],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    log(`PyTorch peer (${label}) failed: ${new TextDecoder().decode(out.stderr).slice(-400)}`);
    return null;
  }
  const r = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
  log(
    `PyTorch peer ${label}: torch ${r.torch} on ${r.device}, ${r.threads} threads` +
      `${r.blas ? `, BLAS ${r.blas}` : ""}` +
      `${removed.length ? `, unset for the peer: ${removed.join(", ")}` : ""}`,
  );
  return r;
}
