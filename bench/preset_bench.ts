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

/** Finds a Python with torch (Debian's python3-torch lives in /usr/bin/python3). */
async function torchPython(): Promise<string | null> {
  for (const py of ["/usr/bin/python3", "python3"]) {
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
  const runs: ["small" | "paper", number, number][] = opts.quick
    ? [["small", 64, 3]]
    : [["small", 64, 5], ["paper", opts.paperBatch ?? 16, 3]];
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
      const { dropped } = model.forward(tape, inp);
      const loss = ops.weightedSum(
        tape,
        tasks.map((t) => [t.loss(tape, dropped, inp), t.weight] as const),
      );
      tape.backward(loss);
      opt.step();
      tape.dispose();
      inp.all.forEach((t) => t.dispose());
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
    if (py) {
      const out = await new Deno.Command(py, {
        args: [
          new URL("./peers/mpm_torch.py", import.meta.url).pathname,
          "--preset",
          name,
          "--batch",
          String(B),
          "--steps",
          String(steps),
          "--particles",
          String(n),
          "--device",
          peerDevice,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (out.success) {
        const r = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
        report(
          `pytorch_${peerDevice}_throughput`,
          `${shape} (torch ${r.torch}, ${
            peerDevice === "cpu" ? `${r.threads} threads` : peerDevice
          })`,
          r.jets_per_s,
          "jets/s",
        );
        report("ratio_webgpu_over_pytorch", shape, B / sec / r.jets_per_s, "x");
      } else log(`PyTorch peer failed: ${new TextDecoder().decode(out.stderr).slice(0, 300)}`);
    }
  }
}
