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
import { LossWindow, MetricsCsv } from "./runlog.ts";
import { checkRunDir, claimRunDir } from "./rundir.ts";
import { fingerprintFile } from "../io/fingerprint.ts";
import { gridSvg, lineSvg } from "../eval/plots.ts";
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
  /** Replace an earlier run in `out`. */
  overwrite?: boolean;
  /** Skip and count bad jets instead of stopping. */
  skipBadJets?: boolean;
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
  await checkRunDir(o.out, { kind: "vqvae", overwrite: o.overwrite });
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
    onBadJet: o.skipBadJets ? "skip" as const : "error" as const,
  };
  const loader = new JetLoader({ ...common, split: "train" });
  const inputs = { train: await Promise.all(o.files.map((f) => fingerprintFile(f))) };
  await claimRunDir(o.out, { kind: "vqvae", inputs, seed: T.seed }, { overwrite: o.overwrite });
  await Deno.mkdir(`${o.out}/plots`, { recursive: true });
  await initCodebook(tok, loader.next()!, T.seed, log);
  const names = ["total", "huber", "commit"];
  const csv = await MetricsCsv.create(`${o.out}/metrics.csv`, [
    "step",
    "lr",
    ...names,
    "jets_per_s",
  ]);
  const window = new LossWindow(gpu, T.logEvery, names);
  const rate = { since: performance.now(), jets: 0 };
  for (let s = 0; s < T.steps; s++) {
    const batch = trimBatch(loader.next()!);
    store.zeroGrad();
    const tape = new Tape(gpu);
    const x = tape.keep(
      gpu.upload(batch.x, [batch.size, batch.nParticles, config.features.length]),
    );
    const out = tok.forward(
      tape,
      x,
      Validity.onTape(tape, batch.valid, batch.size, batch.nParticles),
    );
    const target = tape.keep(gpu.upload(gatherTargets(batch)));
    const huber = ops.pointwiseLoss(tape, "huber", out.recon, target);
    const total = ops.weightedSum(tape, [[huber, 1], [out.commit, config.commitWeight]]);
    tape.backward(total);
    opt.step();
    tok.updateCodebook(out, T.seed * 1000003 + s);
    window.record(s, [total, huber, out.commit]);
    tape.dispose();
    gpu.submit();
    rate.jets += batch.size;
    const done = s + 1;
    if (done % T.logEvery === 0 || done === T.steps) {
      await logTokenizer(
        window,
        csv,
        done,
        rate,
        T,
        (st) => T.lr * opt.options.schedule(st - 1),
        log,
      );
    }
  }
  loader.close();
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
  await tokenizerLossPlot(csv.path, `${o.out}/plots/train_loss.svg`);
  window.dispose();
  log(
    `validation on ${report.particles} particles: huber ${report.huber.toFixed(4)}, perplexity ${
      report.perplexity.toFixed(1)
    } of ${config.codebookSize} codes, usage ${(100 * report.usage).toFixed(1)} %`,
  );
  return report;
}

/** k-means initialisation of the codebook on the first batch's projected vectors. */
async function initCodebook(
  tok: VQTokenizer,
  batch: JetBatch,
  seed: number,
  log: (line: string) => void,
): Promise<void> {
  const gpu = tok.store.gpu, config = tok.config, b = trimBatch(batch);
  const tape = new Tape(gpu);
  const x = tape.keep(gpu.upload(b.x, [b.size, b.nParticles, config.features.length]));
  const maps = setMaps(b.valid, b.size, b.nParticles, config.registers);
  const z = tok.encode(tape, x, Validity.onTape(tape, b.valid, b.size, b.nParticles), maps);
  const zh = await z.read() as Float32Array;
  tape.dispose();
  gpu.submit();
  await tok.initCodebook(zh, 50, seed);
  log(`codebook: k-means initialisation on ${maps.M} particles (${config.codebookSize} codes)`);
}

/** Reads the loss window, appends its rows and prints the progress line. */
async function logTokenizer(
  window: LossWindow,
  csv: MetricsCsv,
  done: number,
  rate: { since: number; jets: number },
  T: TokenizerTrainConfig,
  lrAt: (step: number) => number,
  log: (line: string) => void,
): Promise<void> {
  const rows = await window.flush(
    done,
    () => "lower the learning rate (--lr) or check the data",
  );
  const now = performance.now(), perSec = rate.jets / ((now - rate.since) / 1000);
  rate.since = now;
  rate.jets = 0;
  await csv.append(rows.map((r, k) => [
    r.step,
    lrAt(r.step),
    ...r.values,
    k === rows.length - 1 ? perSec : "",
  ]));
  const v = rows[rows.length - 1].values;
  const eta = ((T.steps - done) * T.batch) / Math.max(perSec, 1e-9);
  log(
    `step ${done}/${T.steps} | ${perSec.toFixed(0)} jets/s | ETA ${Math.round(eta)}s | total ${
      v[0].toFixed(4)
    } huber ${v[1].toFixed(4)} commit ${v[2].toFixed(4)}`,
  );
}

/** The training losses of a tokenizer run (from its metrics CSV), on a log axis. */
async function tokenizerLossPlot(metricsCsv: string, path: string): Promise<void> {
  const pts = (await Deno.readTextFile(metricsCsv)).trim().split("\n").slice(1).map((r) =>
    r.split(",").map(Number)
  );
  const yLabels = ["Huber + 10 x commitment", "Huber (normal scores)", "commitment (MSE)"];
  await writeAtomic(
    path,
    gridSvg(
      ["total", "huber", "commit"].map((label, k) => {
        const y = pts.map((p) => p[2 + k]), pos = y.filter((v) => v > 0);
        return lineSvg([{ label, x: pts.map((p) => p[0]), y }], {
          title: label,
          xLabel: "step",
          yLabel: yLabels[k],
          logY: pos.length > 1 && Math.max(...pos) / Math.min(...pos) > 10,
          width: 360,
          height: 260,
        });
      }),
      3,
      "VQ-VAE tokenizer training",
    ),
  );
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
