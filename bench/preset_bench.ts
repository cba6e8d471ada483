/**
 * MPM pre-training throughput of the `small` and `paper` presets (jets/s, peak GPU memory),
 * side by side with the same model in PyTorch on the same machine (`bench/peers/mpm_torch.py`)
 * when PyTorch is available. Every jet has the same number of real particles, 40 % dropped.
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
import { AdamW } from "../src/optim/adamw.ts";
import type { Report } from "./data_bench.ts";

/**
 * Finds a Python with torch: `MPM_TORCH_PYTHON` when set, else Debian's python3-torch in
 * /usr/bin/python3, else the `python3` on the PATH (on the GPU machine, the one that holds torch).
 */
async function torchPython(): Promise<string | null> {
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
  /** Batch of the paper preset (16 by default: lavapipe's 128 MiB binding limit; 1000 in the paper). */
  paperBatch?: number;
  /** Where the PyTorch peer runs: "cpu" (default) or "cuda". */
  peerDevice?: string;
}

/** One preset's throughput here and, when possible, in PyTorch. */
export async function presetBenchmarks(
  gpu: Gpu,
  report: Report,
  log: (s: string) => void,
  opts: PresetBenchOptions = {},
): Promise<void> {
  const py = await torchPython();
  if (!py) log("PyTorch peer not available: install python3-torch (Debian) to get the ratio");
  const peerDevice = opts.peerDevice ?? "cpu";
  const runs: ["small" | "paper", number, number][] = opts.tiny
    ? [["small", 8, 1]]
    : opts.quick
    ? [["small", 64, 3]]
    : [["small", 64, 5], ["paper", opts.paperBatch ?? 16, 3]];
  // On a GPU the peer runs twice: fp32 eager (same arithmetic as ours) and its fastest form,
  // bf16 autocast with fused scaled-dot-product attention.
  const peerModes = peerDevice.startsWith("cuda") ? ["fp32", "bf16-sdpa"] : ["fp32"];
  for (const [name, B, steps] of runs) {
    const cfg = preset(name);
    const n = 40, N = 128;
    const store = new ParameterStore(gpu);
    const model = new MPMModel(store, cfg);
    const rng = new InitRng(1);
    const tasks = [
      new IdTask(store, rng, model.headDim, 0.3),
      new RegTask(store, rng, model.headDim, 7),
    ];
    store.finalize();
    const opt = new AdamW(store, { lr: 1e-3, weightDecay: 1e-5, maxNorm: 1 });
    const valid = new Uint32Array(B * N);
    for (let b = 0; b < B; b++) valid.fill(1, b * N, b * N + n);
    const x = Float32Array.from(
      { length: B * N * 7 },
      (_, i) => (valid[Math.floor(i / 7)] ? Math.sin(i) : 0),
    );
    const batch: JetBatch = {
      size: B,
      nParticles: N,
      features: cfg.features,
      x,
      raw: x,
      ids: new Int32Array(B * N),
      valid,
      streamIndex: 0,
    };
    const step = () => {
      const m = randomMasking(valid, B, N, { seed: 1, fraction: 0.4 });
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
    step();
    await gpu.sync();
    gpu.resetPeakBytes();
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) step();
    await gpu.sync();
    const sec = (performance.now() - t0) / 1000 / steps;
    const shape = `${name} b${B}x${n}`;
    report("mpm_train_throughput", shape, B / sec, "jets/s");
    report("mpm_train_peak_gpu_mem", shape, gpu.peakBytes / 2 ** 20, "MiB");
    // Inference on the same jets (deno task embed's path: forward only, one readback per batch).
    await model.backbone.embedBatch(batch);
    const e0 = performance.now();
    for (let s = 0; s < steps; s++) await model.backbone.embedBatch(batch);
    const embedSec = (performance.now() - e0) / 1000 / steps;
    report("mpm_embed_throughput", shape, B / embedSec, "jets/s");
    report("mpm_embed_vs_train_step", shape, sec / embedSec, "x");
    if (!py) continue;
    for (const mode of peerModes) {
      const r = await runPeer(py, name, B, steps, n, peerDevice, mode, log);
      if (!r) continue;
      const tag = mode === "fp32" ? peerDevice : `${peerDevice}_${mode.replace("-", "_")}`;
      report(
        `pytorch_${tag}_throughput`,
        `${shape} (torch ${r.torch}, ${
          peerDevice === "cpu" ? `${r.threads} threads, BLAS ${r.blas}` : `${peerDevice} ${mode}`
        })`,
        r.jets_per_s,
        "jets/s",
      );
      report(
        mode === "fp32"
          ? "ratio_webgpu_over_pytorch"
          : `ratio_webgpu_over_pytorch_${mode.replace("-", "_")}`,
        shape,
        B / sec / r.jets_per_s,
        "x",
      );
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
async function runPeer(
  py: string,
  preset: string,
  batch: number,
  steps: number,
  particles: number,
  device: string,
  mode: string,
  log: (s: string) => void,
): Promise<PeerResult | null> {
  const env = Deno.env.toObject();
  const removed = PEER_ENV_OVERRIDES.filter((k) => k in env);
  for (const k of removed) delete env[k];
  const out = await new Deno.Command(py, {
    args: [
      new URL("./peers/mpm_torch.py", import.meta.url).pathname,
      ...["--preset", preset, "--batch", String(batch), "--steps", String(steps)],
      ...["--particles", String(particles), "--device", device],
      ...(mode === "bf16-sdpa" ? ["--amp", "bf16", "--sdpa"] : []),
    ],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    log(`PyTorch peer (${mode}) failed: ${new TextDecoder().decode(out.stderr).slice(-400)}`);
    return null;
  }
  const r = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
  log(
    `PyTorch peer ${preset} b${batch} ${mode}: torch ${r.torch} on ${r.device}, ${r.threads} threads, ` +
      `BLAS ${r.blas}${removed.length ? `, unset for the peer: ${removed.join(", ")}` : ""}`,
  );
  return r;
}
