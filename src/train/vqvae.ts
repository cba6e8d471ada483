/**
 * Training of the VQ-VAE particle tokenizer, top to bottom: stream a batch of jets, encode,
 * quantise, decode, Huber + 10 x commitment, AdamW, then the EMA update of the codebook — one
 * submit per step, losses read every `logEvery` steps. The codebook is initialised by k-means on
 * the first batch. At the end the tokenizer is evaluated on validation jets: reconstruction
 * error per feature, codebook usage and perplexity.
 *
 * @module
 */
import { Validity } from "../nn/validity.ts";
import { ParameterStore } from "../autograd/parameters.ts";
import * as ops from "../autograd/ops.ts";
import { Tape } from "../autograd/tape.ts";
import { type JetBatch, JetLoader } from "../data/loader.ts";
import type { Preprocessor } from "../data/preprocess.ts";
import { writeAtomic } from "../io/files.ts";
import { lineSvg } from "../eval/plots.ts";
import type { Gpu } from "../gpu/gpu.ts";
import { trimBatch } from "../mpm/prepare.ts";
import { setMaps, type TokenizerConfig, VQTokenizer } from "../mpm/vqvae.ts";
import { InitRng } from "../nn/init.ts";
import { AdamW } from "../optim/adamw.ts";
import { warmupCosine } from "../optim/schedule.ts";

/** Optimisation settings of the tokenizer. */
export interface TokenizerTrainConfig {
  /** Optimiser steps. */
  steps: number;
  /** Jets per batch. */
  batch: number;
  /** Peak learning rate (the reference: 1e-3). */
  lr: number;
  /** AdamW weight decay (1e-5). */
  weightDecay: number;
  /** Linear warm-up steps, then cosine decay. */
  warmup: number;
  /** Seed. */
  seed: number;
  /** Steps between progress lines (and loss readbacks). */
  logEvery: number;
  /** Validation batches at the end. */
  valBatches: number;
}

/** Validation figures of a tokenizer. */
export interface TokenizerReport {
  /** Steps trained. */
  steps: number;
  /** Real particles evaluated. */
  particles: number;
  /** Mean Huber reconstruction loss (normalised units). */
  huber: number;
  /** Mean absolute reconstruction error per feature (normalised units). */
  mae: Record<string, number>;
  /** exp(entropy) of the code usage. */
  perplexity: number;
  /** Fraction of the codes used at least once. */
  usage: number;
  /** Codes. */
  codebookSize: number;
}

/** Options of {@linkcode trainTokenizer}. */
export interface TrainTokenizerOptions {
  /** Device. */
  gpu: Gpu;
  /** Tokenizer shape. */
  config: TokenizerConfig;
  /** Optimisation. */
  train: TokenizerTrainConfig;
  /** Training files (their `train` split); validation uses their `val` split. */
  files: readonly string[];
  /** Feature preprocessing (saved in the tokenizer file). */
  preprocessor: Preprocessor;
  /** Output folder: tokenizer.safetensors, vqvae.json, metrics.csv, plots. */
  out: string;
  /** Progress output. */
  log?: (line: string) => void;
}

/**
 * Trains and saves a tokenizer; returns its validation report.
 *
 * @example
 * ```ts ignore
 * const rep = await trainTokenizer({ gpu, config: tokenizerPreset("small"), train, files: ["jets.h5"], preprocessor, out: "vqvae" });
 * ```
 */
export async function trainTokenizer(o: TrainTokenizerOptions): Promise<TokenizerReport> {
  const { gpu, config, train: T } = o;
  const log = o.log ?? ((s: string) => console.log(s));
  await Deno.mkdir(`${o.out}/plots`, { recursive: true });
  const store = new ParameterStore(gpu);
  const tok = new VQTokenizer(store, config, new InitRng(T.seed));
  store.finalize();
  const opt = new AdamW(store, {
    lr: T.lr,
    weightDecay: T.weightDecay,
    maxNorm: 1,
    schedule: warmupCosine({ warmup: T.warmup, total: T.steps, floor: 0.01 }),
  });
  const common = {
    files: o.files,
    batchSize: T.batch,
    features: config.features,
    maxParticles: 128,
    truncate: true,
    preprocessor: o.preprocessor,
    seed: T.seed,
  };
  const loader = new JetLoader({ ...common, split: "train" });
  const upload = (batch: JetBatch) => {
    const b = trimBatch(batch), F = config.features.length;
    const x = gpu.upload(b.x, [b.size, b.nParticles, F]);
    const valid = new Validity(gpu, b.valid, b.size, b.nParticles);
    return { b, x, valid };
  };

  // k-means initialisation of the codebook on the first batch's projected vectors.
  {
    const { b, x, valid } = upload(loader.next()!);
    const tape = new Tape(gpu);
    const maps = setMaps(
      b.valid,
      b.size,
      b.nParticles,
      config.registers,
    );
    const z = tok.encode(tape, x, valid, maps);
    const zh = await z.read() as Float32Array;
    tape.dispose();
    x.dispose();
    valid.dispose();
    gpu.submit();
    await tok.initCodebook(zh, 50, T.seed);
    log(`codebook: k-means initialisation on ${maps.M} particles (${config.codebookSize} codes)`);
  }

  const metrics = `${o.out}/metrics.csv`;
  const rows = ["step,lr,total,huber,commit,jets_per_s"];
  const t0 = performance.now();
  let windowStart = t0, windowJets = 0;
  for (let s = 0; s < T.steps; s++) {
    const { x, valid, b } = upload(loader.next()!);
    store.zeroGrad();
    const tape = new Tape(gpu);
    const out = tok.forward(tape, x, valid);
    const huber = ops.pointwiseLoss(
      tape,
      "huber",
      out.recon,
      tape.keep(gpu.upload(gatherTargets(b))),
    );
    const total = ops.weightedSum(tape, [[huber, 1], [out.commit, config.commitWeight]]);
    tape.backward(total);
    opt.step();
    tok.updateCodebook(out, T.seed * 1000003 + s);
    const done = s + 1;
    windowJets += b.size;
    let vals: number[] | null = null;
    if (done % T.logEvery === 0 || done === T.steps) {
      vals = await Promise.all([total, huber, out.commit].map(async (t) => (await t.read())[0]));
    }
    tape.dispose();
    x.dispose();
    valid.dispose();
    gpu.submit();
    if (vals) {
      if (!vals.every(Number.isFinite)) {
        throw new Error(
          `tokenizer loss became ${
            vals[0]
          } at step ${done}; lower the learning rate (--lr) or check the data`,
        );
      }
      const now = performance.now(), rate = windowJets / ((now - windowStart) / 1000);
      windowStart = now;
      windowJets = 0;
      const lr = T.lr * opt.options.schedule(done - 1);
      rows.push(
        [done, lr.toPrecision(4), ...vals.map((v) => v.toPrecision(6)), rate.toFixed(1)].join(","),
      );
      const eta = ((T.steps - done) * T.batch) / Math.max(rate, 1e-9);
      log(
        `step ${done}/${T.steps} | ${rate.toFixed(0)} jets/s | ETA ${Math.round(eta)}s | total ${
          vals[0].toFixed(4)
        } huber ${vals[1].toFixed(4)} commit ${vals[2].toFixed(4)}`,
      );
    }
  }
  loader.close();
  await writeAtomic(metrics, rows.join("\n") + "\n");
  const report = await evaluateTokenizer(tok, {
    ...common,
    split: "val",
    shuffle: false,
    loop: false,
    dropLast: false,
  }, T.valBatches);
  report.steps = T.steps;
  await tok.save(`${o.out}/tokenizer.safetensors`, o.preprocessor, report);
  await writeAtomic(`${o.out}/vqvae.json`, JSON.stringify(report, null, 2));
  const pts = rows.slice(1).map((r) => r.split(",").map(Number));
  await writeAtomic(
    `${o.out}/plots/train_loss.svg`,
    lineSvg(
      ["total", "huber", "commit"].map((label, k) => ({
        label,
        x: pts.map((p) => p[0]),
        y: pts.map((p) => p[2 + k]),
      })),
      { title: "VQ-VAE tokenizer training", xLabel: "step", yLabel: "loss", logY: true },
    ),
  );
  log(
    `validation on ${report.particles} particles: huber ${report.huber.toFixed(4)}, perplexity ${
      report.perplexity.toFixed(1)
    } of ${config.codebookSize} codes, usage ${(100 * report.usage).toFixed(1)} %`,
  );
  return report;
}

/** The real particles' features (M, F) of a (trimmed) batch, in (jet, slot) order. */
function gatherTargets(b: JetBatch): Float32Array {
  const F = b.features.length, out: number[] = [];
  for (let i = 0; i < b.size * b.nParticles; i++) {
    if (b.valid[i]) { for (let f = 0; f < F; f++) out.push(b.x[i * F + f]); }
  }
  return Float32Array.from(out);
}

/**
 * Reconstruction error, codebook usage and perplexity of a tokenizer on `batches` batches of a
 * loader's jets (already preprocessed by the loader).
 *
 * @example
 * ```ts ignore
 * const rep = await evaluateTokenizer(tok, { files: ["jets.h5"], batchSize: 64, split: "val", preprocessor }, 8);
 * ```
 */
export async function evaluateTokenizer(
  tok: VQTokenizer,
  loaderOptions: ConstructorParameters<typeof JetLoader>[0],
  batches: number,
): Promise<TokenizerReport> {
  const gpu = tok.store.gpu, K = tok.config.codebookSize, F = tok.config.features.length;
  const counts = new Float64Array(K), absErr = new Float64Array(F);
  let huberSum = 0, particles = 0;
  const loader = new JetLoader(loaderOptions);
  for (let k = 0; k < batches; k++) {
    const raw = loader.next();
    if (!raw) break;
    const b = trimBatch(raw);
    const tape = new Tape(gpu);
    const x = tape.keep(gpu.upload(b.x, [b.size, b.nParticles, F]));
    const valid = Validity.onTape(tape, b.valid, b.size, b.nParticles);
    const out = tok.forward(tape, x, valid);
    const target = gatherTargets(b), M = target.length / F;
    const huber = ops.pointwiseLoss(tape, "huber", out.recon, tape.keep(gpu.upload(target)));
    const [codes, recon, h] = [await out.codes.read(), await out.recon.read(), await huber.read()];
    tape.dispose();
    gpu.submit();
    for (const c of codes) counts[c]++;
    for (let m = 0; m < M; m++) {
      for (let f = 0; f < F; f++) absErr[f] += Math.abs(recon[m * F + f] - target[m * F + f]);
    }
    huberSum += h[0] * M;
    particles += M;
  }
  loader.close();
  if (!particles) throw new Error("tokenizer evaluation: no validation particles");
  let entropy = 0, used = 0;
  for (const c of counts) {
    if (!c) continue;
    used++;
    const p = c / particles;
    entropy -= p * Math.log(p);
  }
  const mae: Record<string, number> = {};
  tok.config.features.forEach((f, i) => (mae[f] = absErr[i] / particles));
  return {
    steps: 0,
    particles,
    huber: huberSum / particles,
    mae,
    perplexity: Math.exp(entropy),
    usage: used / K,
    codebookSize: K,
  };
}
