/**
 * The MPM pre-training loop, top to bottom: stream a batch, mask it (seeded per jet), build the
 * step inputs, run the model and the task heads, backpropagate, AdamW — all recorded into one
 * command encoder and submitted once. Losses are copied into a GPU buffer and read every
 * `logEvery` steps (the only readback), where non-finite losses stop the run.
 *
 * @module
 */
import { ParameterStore } from "../autograd/parameters.ts";
import * as ops from "../autograd/ops.ts";
import { Tape } from "../autograd/tape.ts";
import { type JetBatch, JetLoader } from "../data/loader.ts";
import { randomMasking, uniformMasking } from "../data/masking.ts";
import type { Preprocessor } from "../data/preprocess.ts";
import { histogram, histogramSvg, lineSvg } from "../eval/plots.ts";
import type { Gpu } from "../gpu/gpu.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { MPMConfig } from "../mpm/config.ts";
import { CFMTask } from "../mpm/cfm.ts";
import { CNFTask } from "../mpm/cnf.ts";
import { KMeansTask, loadCodebook } from "../mpm/kmeans.ts";
import { MPMModel, type MPMPassOutput } from "../mpm/model.ts";
import { SSFMTask } from "../mpm/ssfm.ts";
import { VQTokenizer, VQVAETask } from "../mpm/vqvae.ts";
import { type MPMInputs, prepareInputs, trimBatch } from "../mpm/prepare.ts";
import { completionReport } from "./completion.ts";
import { IdTask, LinearProbe, type PretrainTask, RegTask } from "../mpm/tasks.ts";
import { InitRng } from "../nn/init.ts";
import { AdamW } from "../optim/adamw.ts";
import { warmupExpDecay } from "../optim/schedule.ts";
import { loadCheckpoint, saveCheckpoint, type TrainState } from "./checkpoint.ts";
import { writeAtomic } from "../data/safetensors.ts";

/** Options of {@linkcode pretrain}. */
export interface PretrainOptions {
  /** Device. */
  gpu: Gpu;
  /** Resolved configuration. */
  config: MPMConfig;
  /** Training files (HDF5). */
  trainFiles: readonly string[];
  /** Validation files; default: the `val` split of the training files. */
  valFiles?: readonly string[];
  /** Output folder. */
  out: string;
  /** Feature preprocessing (saved next to the backbone). */
  preprocessor: Preprocessor;
  /** Continue from the checkpoint in `out`. */
  resume?: boolean;
  /** Stop (as if interrupted) after this many steps; for tests. */
  stopAfter?: number;
  /** Progress output. Default console.log. */
  log?: (line: string) => void;
}

/** What a run produced. */
export interface PretrainResult {
  /** Steps done. */
  step: number;
  /** Last validation losses by name (and `probe_acc`). */
  val: Record<string, number>;
  /** Files written. */
  files: { config: string; model: string; backbone: string; metrics: string; plots: string };
}

const fmt = (v: number) => (Number.isFinite(v) ? v.toPrecision(6) : String(v));

/**
 * Pre-trains an MPM model; resumable; see `tasks/pretrain.ts` for the command line.
 *
 * @example
 * ```ts ignore
 * const gpu = await requestGpu();
 * await pretrain({ gpu, config: preset("small"), trainFiles: ["jets.h5"], out: "run", preprocessor });
 * ```
 */
export async function pretrain(o: PretrainOptions): Promise<PretrainResult> {
  const { gpu, config } = o;
  const log = o.log ?? ((s: string) => console.log(s));
  const T = config.train;
  await Deno.mkdir(`${o.out}/plots`, { recursive: true });
  const files = {
    config: `${o.out}/config.json`,
    model: `${o.out}/model.safetensors`,
    backbone: `${o.out}/backbone.safetensors`,
    metrics: `${o.out}/metrics.csv`,
    plots: `${o.out}/plots`,
  };

  // Model, tasks, probe, optimiser.
  checkObjective(config);
  const store = new ParameterStore(gpu);
  const model = new MPMModel(store, config);
  const rng = new InitRng(T.seed + 1);
  const tasks: PretrainTask[] = [];
  if (config.tasks.id && config.useIds) {
    tasks.push(new IdTask(store, rng, model.headDim, config.tasks.id.weight));
  }
  if (config.tasks.reg) {
    tasks.push(
      new RegTask(store, rng, model.headDim, config.features.length, config.tasks.reg.weight),
    );
  }
  if (config.tasks.kmeans) {
    const cb = await loadCodebook(config.tasks.kmeans.codebook);
    if (cb.features.join() !== config.features.join()) {
      throw new Error(
        `${config.tasks.kmeans.codebook}: codebook fitted on [${cb.features}], the model uses [${config.features}]; re-run \`deno task kmeans\``,
      );
    }
    const centroids = gpu.upload(cb.centroids, [cb.k, cb.dim]);
    tasks.push(new KMeansTask(store, rng, model.headDim, centroids, config.tasks.kmeans.weight));
  }
  if (config.tasks.vqvae) {
    const path = config.tasks.vqvae.tokenizer;
    const { tokenizer, preprocessor } = await VQTokenizer.load(gpu, path);
    if (tokenizer.config.features.join() !== config.features.join()) {
      throw new Error(
        `${path}: tokenizer trained on [${tokenizer.config.features}], the model uses [${config.features}]; re-run \`deno task vqvae\` on this data`,
      );
    }
    if (JSON.stringify(preprocessor.toJSON()) !== JSON.stringify(o.preprocessor.toJSON())) {
      throw new Error(
        `${path}: the tokenizer was trained with another preprocessing than this run's; pre-train with its preprocessing (deno task pretrain picks it up from --tokenizer unless --preprocessor is given)`,
      );
    }
    tasks.push(new VQVAETask(store, rng, model.headDim, tokenizer, config.tasks.vqvae.weight));
  }
  const cfm = config.tasks.cfm
    ? new CFMTask(store, rng, model.headDim, config.features.length, {
      seed: T.seed,
      weight: config.tasks.cfm.weight,
    })
    : null;
  if (cfm) tasks.push(cfm);
  const cnf = config.tasks.cnf
    ? new CNFTask(store, rng, model.headDim, config.features, {
      seed: T.seed,
      weight: config.tasks.cnf.weight,
    })
    : null;
  if (cnf) tasks.push(cnf);
  const ssfmCfg = config.tasks.ssfm;
  const ssfm = ssfmCfg
    ? new SSFMTask(store, rng, {
      features: config.features.length,
      ids: config.useIds,
      encoderDim: config.encoder.dim,
      dim: config.decoder.dim,
      layers: config.decoder.layers,
      heads: config.decoder.heads,
      ffMult: config.decoder.ffMult,
      minDrop: ssfmCfg.minDrop,
      maxDrop: ssfmCfg.maxDrop,
      seed: T.seed,
      weight: ssfmCfg.weight,
    })
    : null;
  if (ssfm) tasks.push(ssfm);
  // Generative heads whose samples are compared with the dropped particles at validation:
  // each returns the generated normalised features (M, F) in the order of `inp.xDrop`.
  const samplers: {
    label: string;
    sample: (tape: Tape, pass: MPMPassOutput, inp: MPMInputs) => Promise<Float32Array>;
  }[] = [];
  if (cfm) {
    samplers.push({
      label: "CFM",
      sample: (tape, pass) =>
        cfm.sample(tape, pass.dropped, {
          steps: config.tasks.cfm!.sampleSteps ?? 49,
          seed: T.seed,
        }),
    });
  }
  if (cnf) {
    samplers.push({
      label: "CNF",
      sample: (tape, pass) => cnf.sample(tape, pass.dropped, { seed: T.seed }),
    });
  }
  if (ssfm) {
    samplers.push({
      label: "SSFM",
      sample: async (tape, pass, inp) =>
        (await ssfm.sample(tape, pass, inp, { steps: ssfmCfg!.sampleSteps ?? 50, seed: T.seed }))
          .x,
    });
  }
  if (!tasks.length) {
    throw new Error(
      "no pre-training task enabled (enable id, reg, kmeans, vqvae, cfm, cnf or ssfm; id needs particle types)",
    );
  }
  const probe = config.tasks.probe
    ? new LinearProbe(store, rng, config.encoder.dim, config.tasks.probe.classes)
    : null;
  store.finalize();
  const opt = new AdamW(store, {
    lr: T.lr,
    weightDecay: T.weightDecay,
    maxNorm: T.clip,
    schedule: warmupExpDecay({ warmup: T.warmup, halfLife: T.halfLife, floor: T.floor }),
  });

  // Data.
  const common = {
    batchSize: T.batch,
    features: config.features,
    maxParticles: config.maxParticles,
    truncate: true,
    preprocessor: o.preprocessor,
    seed: T.seed,
  };
  const loader = new JetLoader({
    ...common,
    files: o.trainFiles,
    split: o.valFiles ? undefined : "train",
  });
  const makeVal = () =>
    new JetLoader({
      ...common,
      files: o.valFiles ?? o.trainFiles,
      split: o.valFiles ? undefined : "val",
      shuffle: false,
      loop: false,
      dropLast: false,
      seed: T.seed + 7,
    });

  const backboneMeta: Record<string, string> = {
    format: "mpm-webgpu-backbone/1",
    encoder: JSON.stringify(config.encoder),
    features: JSON.stringify(config.features),
    useIds: String(config.useIds),
    maxParticles: String(config.maxParticles),
    preprocessor: JSON.stringify(o.preprocessor.toJSON()),
  };

  // Resume.
  let state: TrainState = { step: 0, loader: loader.state, seed: T.seed, elapsed: 0 };
  const names = ["total", ...tasks.map((t) => t.name), ...(probe ? ["probe"] : [])];
  const header = ["step", "split", "lr", ...names, "probe_acc", "jets_per_s"].join(",");
  if (o.resume) {
    state = await loadCheckpoint(o.out, store);
    opt.t = state.step;
    loader.restore(state.loader);
    // Drop metrics rows past the checkpoint (an interrupted run may have logged further).
    const rows = (await Deno.readTextFile(files.metrics)).trim().split("\n");
    const kept = rows.filter((r, i) => i === 0 || Number(r.split(",")[0]) <= state.step);
    await writeAtomic(files.metrics, kept.join("\n") + "\n");
    log(`resumed ${o.out} at step ${state.step}`);
  } else {
    await writeAtomic(files.config, JSON.stringify(config, null, 2));
    await writeAtomic(files.metrics, header + "\n");
  }

  const L = T.logEvery;
  const logBuf = gpu.zeros([L, names.length]);
  let lastGood = state.step;
  const t0 = performance.now() - state.elapsed * 1000;
  let windowStart = performance.now(), windowJets = 0;
  let val: Record<string, number> = {};
  const stopAt = Math.min(T.steps, o.stopAfter ?? Infinity);

  const step = (batch: JetBatch, train: boolean, withProbe: boolean, seed: number) => {
    const B = batch.size, N = batch.nParticles, F = batch.features.length;
    const mo = { seed, jetIndex: batch.streamIndex, pt: batch.raw, ptStride: F };
    const masking = ssfmCfg
      ? uniformMasking(batch.valid, B, N, { ...mo, min: ssfmCfg.minDrop, max: ssfmCfg.maxDrop })
      : randomMasking(batch.valid, B, N, { ...mo, fraction: config.maskFraction });
    const inp = prepareInputs(gpu, batch, masking, {
      registers: config.encoder.registers,
      maxParticles: config.maxParticles,
    });
    if (train) store.zeroGrad();
    const tape = new Tape(gpu);
    const pass = model.forward(tape, inp);
    const terms: [Tensor, number][] = tasks.map((
      t,
    ) => [t.loss(tape, pass.dropped, inp, pass), t.weight]);
    // The logged "total" is the pre-training objective; the probe (monitoring) is added for
    // the backward pass only.
    const objective = ops.weightedSum(tape, terms);
    let probeTape: Tape | null = null,
      logits: Tensor | null = null,
      probeLoss: Tensor | null = null;
    if (probe && withProbe) {
      probeTape = new Tape(gpu);
      const enc = model.encode(probeTape, inp.x, inp.ids, inp.valid, inp.validHost);
      const p = probe.forward(tape, enc.out, enc.valid, inp.labels);
      probeLoss = p.loss;
      logits = p.logits;
    }
    const total = probeLoss ? ops.add(tape, objective, probeLoss) : objective;
    if (train) {
      tape.backward(total);
      opt.step();
      for (const t of tasks) t.afterStep?.();
    }
    const losses = [objective, ...terms.map((t) => t[0]), ...(probeLoss ? [probeLoss] : [])];
    return { tape, probeTape, inp, losses, logits, pass };
  };

  for (let s = state.step; s < stopAt; s++) {
    const batch = loader.next()!;
    const withProbe = !!probe && s % config.tasks.probe!.every === 0;
    const r = step(batch, true, withProbe, T.seed);
    const row = s % L;
    r.losses.forEach((t, k) => {
      if (k < names.length) gpu.copy(t, logBuf.view([1], row * names.length + k));
    });
    if (!withProbe && probe) gpu.clear(logBuf.view([1], row * names.length + names.length - 1));
    r.tape.dispose();
    r.probeTape?.dispose();
    for (const t of r.inp.all) t.dispose();
    gpu.submit();
    windowJets += batch.size;

    const done = s + 1;
    if (done % L === 0 || done === stopAt) {
      const vals = await logBuf.read() as Float32Array;
      const rows = (done - 1) % L + 1;
      const lines: string[] = [];
      for (let k = 0; k < rows; k++) {
        const st = done - rows + k + 1, v = vals.subarray(k * names.length, (k + 1) * names.length);
        const bad = Array.from(v).findIndex((x) => !Number.isFinite(x));
        if (bad >= 0) {
          throw new Error(
            `loss "${names[bad]}" became ${
              v[bad]
            } at step ${st}; the last good checkpoint is ${o.out} (step ${lastGood}). Lower the learning rate or check the data, then --resume`,
          );
        }
        lines.push(
          [
            st,
            "train",
            fmt(opt.options.lr * opt.options.schedule(st - 1)),
            ...Array.from(v).map(fmt),
            "",
            "",
          ].join(","),
        );
      }
      const now = performance.now(), rate = windowJets / ((now - windowStart) / 1000);
      lines[lines.length - 1] += fmt(rate);
      await Deno.writeTextFile(files.metrics, lines.join("\n") + "\n", { append: true });
      windowStart = now;
      windowJets = 0;
      // Latest value of each loss in the window (the probe does not run every step).
      const last = names.map((_, k) => {
        for (let r = rows - 1; r >= 0; r--) {
          if (vals[r * names.length + k] !== 0) return vals[r * names.length + k];
        }
        return 0;
      });
      const eta = ((stopAt - done) * T.batch) / Math.max(rate, 1e-9);
      log(
        `step ${done}/${T.steps} | ${rate.toFixed(0)} jets/s | ETA ${Math.round(eta)}s | ` +
          names.map((n, k) => `${n} ${last[k].toFixed(4)}`).join(" "),
      );
    }

    if (done % T.valEvery === 0 || done === T.steps) {
      val = await validate(makeVal(), T.valBatches);
      const line = [
        done,
        "val",
        "",
        ...names.map((n) => fmt(val[n] ?? NaN)),
        fmt(val.probe_acc ?? NaN),
        "",
      ].join(",");
      await Deno.writeTextFile(files.metrics, line + "\n", { append: true });
      log(
        `  validation at step ${done}: ` +
          Object.entries(val).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(" "),
      );
    }
    if (done % T.checkpointEvery === 0 || done === T.steps) {
      const elapsed = (performance.now() - t0) / 1000;
      await saveCheckpoint(o.out, store, {
        step: done,
        loader: loader.state,
        seed: T.seed,
        elapsed,
      }, backboneMeta);
      lastGood = done;
    }
  }
  await writePlots(files.metrics, files.plots);
  loader.close();
  logBuf.dispose();
  return { step: stopAt, val, files };

  async function validate(vl: JetLoader, batches: number): Promise<Record<string, number>> {
    const sums = new Float64Array(names.length);
    let n = 0, correct = 0, counted = 0;
    for (let k = 0; k < batches; k++) {
      const batch = vl.next();
      if (!batch) break;
      const r = step(batch, false, !!probe, T.seed + 7);
      const vals = await Promise.all(r.losses.map((t) => t.read()));
      vals.forEach((v, i) => (sums[i] += v[0] * batch.size));
      if (r.logits && batch.labels) {
        const lg = await r.logits.read() as Float32Array, C = lg.length / batch.size;
        for (let j = 0; j < batch.size; j++) {
          const row = Array.from(lg.subarray(j * C, (j + 1) * C));
          if (row.indexOf(Math.max(...row)) === batch.labels[j]) correct++;
          counted++;
        }
      }
      if (k === 0 && r.inp.M > 0 && samplers.length) {
        const slots = await r.inp.maskInvN.read(), trimmed = trimBatch(batch);
        for (const s of samplers) {
          const gen = await s.sample(r.tape, r.pass, r.inp);
          await samplePlots(s.label, gen, r.inp.xDropHost, r.inp.M);
          const rep = await completionReport({
            label: s.label,
            batch: trimmed,
            slots: slots.subarray(0, r.inp.M),
            gen,
            truth: r.inp.xDropHost.subarray(0, r.inp.M * config.features.length),
            preprocessor: o.preprocessor,
            plots: files.plots,
            seed: T.seed,
          });
          if (rep) {
            log(
              `  ${s.label} jet completion, 1-Wasserstein to real jets (${s.label} | marginal baseline): ${
                Object.entries(rep).map(([k, v]) =>
                  `${k} ${v.model.toPrecision(3)} | ${v.baseline.toPrecision(3)}`
                )
                  .join(", ")
              }`,
            );
            await writeAtomic(
              `${files.plots}/${s.label.toLowerCase()}_completion.json`,
              JSON.stringify(rep, null, 2),
            );
          }
        }
      }
      n += batch.size;
      r.tape.dispose();
      r.probeTape?.dispose();
      for (const t of r.inp.all) t.dispose();
      gpu.submit();
    }
    vl.close();
    const out: Record<string, number> = {};
    names.forEach((name, i) => (out[name] = sums[i] / Math.max(n, 1)));
    if (counted) out.probe_acc = correct / counted;
    return out;
  }

  /** Generates the dropped particles of a validation batch and compares them with the truth. */
  async function samplePlots(
    label: string,
    gen: Float32Array,
    truth: Float32Array,
    M: number,
  ): Promise<void> {
    const F = config.features.length;
    const w1: string[] = [];
    for (let f = 0; f < F; f++) {
      const g = Float64Array.from({ length: M }, (_, m) => gen[m * F + f]).sort();
      const t = Float64Array.from({ length: M }, (_, m) => truth[m * F + f]).sort();
      w1.push(
        `${config.features[f]} ${
          (g.reduce((s, v, i) => s + Math.abs(v - t[i]), 0) / M).toFixed(3)
        }`,
      );
      const [hg, ht] = [histogram(g, 40, -4, 4, true), histogram(t, 40, -4, 4, true)];
      await writeAtomic(
        `${files.plots}/${label.toLowerCase()}_${config.features[f]}.svg`,
        histogramSvg(hg.edges, [{ label: "true (dropped)", y: ht.counts }, {
          label: `${label} sample`,
          y: hg.counts,
        }], {
          title: `${label}: ${config.features[f]} of dropped particles (normalised)`,
          xLabel: config.features[f],
          yLabel: "density",
        }),
      );
    }
    log(
      `  ${label} sample vs truth, 1-Wasserstein per feature (normalised units): ${w1.join(", ")}`,
    );
  }
}

/**
 * Checks that the objective and the tasks fit together: `ssfm` needs the ssfm task and no head
 * on decoder features (it has no such decoder); the ssfm task needs the `ssfm` objective.
 *
 * @example
 * ```ts
 * import { preset } from "@mpm/webgpu/mpm";
 * import { checkObjective } from "@mpm/webgpu/train";
 * const c = preset("small");
 * c.objective = "ssfm";
 * let msg = "";
 * try { checkObjective(c); } catch (e) { msg = (e as Error).message; }
 * console.assert(msg.includes("ssfm"));
 * ```
 */
export function checkObjective(config: MPMConfig): void {
  const t = config.tasks;
  const decoderHeads = (["id", "reg", "kmeans", "vqvae", "cfm", "cnf"] as const).filter((k) =>
    t[k]
  );
  if (config.objective === "ssfm") {
    if (!t.ssfm) {
      throw new Error(
        "objective 'ssfm' needs tasks.ssfm (deno task pretrain --tasks ssfm[,probe])",
      );
    }
    if (decoderHeads.length) {
      throw new Error(
        `objective 'ssfm' has no mask-token decoder, so tasks [${decoderHeads}] cannot run with it; use --tasks ssfm[,probe], or another objective without ssfm`,
      );
    }
  } else if (t.ssfm) {
    throw new Error(
      `tasks.ssfm needs objective 'ssfm' (the config has '${config.objective}'); --tasks ssfm sets it`,
    );
  }
}

/** Loss curves (train and validation) from a metrics CSV. */
export async function writePlots(metricsCsv: string, dir: string): Promise<void> {
  const rows = (await Deno.readTextFile(metricsCsv)).trim().split("\n");
  const head = rows[0].split(","), data = rows.slice(1).map((r) => r.split(","));
  const lossCols = head.slice(3, head.indexOf("probe_acc"));
  for (const split of ["train", "val"]) {
    const sel = data.filter((r) => r[1] === split);
    if (!sel.length) continue;
    // A loss that did not run at a step (the probe) is logged as 0: leave those points out.
    const series = lossCols.map((c) => {
      const pts = sel.map((r) => [Number(r[0]), Number(r[head.indexOf(c)])]).filter(([, v]) =>
        Number.isFinite(v) && v !== 0
      );
      return { label: c, x: pts.map((p) => p[0]), y: pts.map((p) => p[1]) };
    }).filter((s) => s.y.length > 0);
    await writeAtomic(
      `${dir}/${split}_loss.svg`,
      lineSvg(series, { title: `${split} losses`, xLabel: "step", yLabel: "loss", logY: true }),
    );
  }
  const acc = data.filter((r) =>
    r[1] === "val" && r[head.indexOf("probe_acc")] !== "" && r[head.indexOf("probe_acc")] !== "NaN"
  );
  if (acc.length) {
    await writeAtomic(
      `${dir}/probe_accuracy.svg`,
      lineSvg([{
        label: "probe accuracy",
        x: acc.map((r) => Number(r[0])),
        y: acc.map((r) => Number(r[head.indexOf("probe_acc")])),
      }], { title: "linear probe (validation)", xLabel: "step", yLabel: "accuracy" }),
    );
  }
}
