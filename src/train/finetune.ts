/**
 * Downstream training and evaluation of a backbone: jet classification, weakly supervised
 * (CWoLa) tagging, out-of-distribution b-tagging, secondary-vertex finding and track-origin
 * identification, each with the metric physicists use.
 *
 * The backbone starts frozen. In fine-tune mode it is unfrozen at step `unfreezeAt` and its
 * learning rate ramps linearly from ~0 to the head's over `catchup` steps (the reference's
 * `CatchupToLR`). Training stops early when the validation loss has not improved for
 * `patience` validations; the best weights are kept and evaluated on the test set.
 *
 * @module
 */
import { ParameterStore } from "../autograd/parameters.ts";
import * as ops from "../autograd/ops.ts";
import { Tape } from "../autograd/tape.ts";
import { Rng } from "../data/_rng.ts";
import h5wasm from "h5wasm";
import { JetFileReader, JetFileWriter } from "../data/hdf5.ts";
import { type JetBatch, JetLoader } from "../data/loader.ts";
import { QuantileTransform } from "../data/preprocess.ts";
import { decodeSafetensors, encodeSafetensors, writeAtomic } from "../data/safetensors.ts";
import type { JetBlock } from "../data/types.ts";
import {
  accuracy,
  adjustedRandIndex,
  balancedAccuracy,
  componentsFromEdges,
  perClassAuc,
  referenceAri,
  rocAuc,
  rocCurve,
  sicAt,
} from "../eval/metrics.ts";
import { lineSvg } from "../eval/plots.ts";
import type { Gpu } from "../gpu/gpu.ts";
import type { Tensor } from "../gpu/tensor.ts";
import {
  ClassAttentionHead,
  type DropoutContext,
  pairSlots,
  TrackHead,
  VertexHead,
} from "../heads/heads.ts";
import { Backbone, type BackboneInfo } from "../mpm/backbone.ts";
import { preset } from "../mpm/config.ts";
import { trimBatch } from "../mpm/prepare.ts";
import { InitRng } from "../nn/init.ts";
import { AdamW } from "../optim/adamw.ts";
import { warmupCosine } from "../optim/schedule.ts";

/** The downstream tasks. */
export type DownstreamTask = "classify" | "cwola" | "btag" | "vertex" | "trackid";

/** Track-origin class weights of the reference (primary, charm, bottom, other). */
export const TRACK_CLASS_WEIGHTS: readonly number[] = [0.3868, 1.4342, 3.3482, 2.3896];

/** Options of {@linkcode finetune}. */
export interface FinetuneOptions {
  /** Device. */
  gpu: Gpu;
  /** Task. */
  task: DownstreamTask;
  /** `backbone.safetensors`, or `"random"` for the randomly initialised baseline. */
  backbone: string;
  /** Shape of the random baseline (default: the pre-trained backbone's if `like` is given, else the small preset). */
  like?: string;
  /** Training, validation and test files. */
  train: readonly string[];
  /** Validation files; omitted: the `val` split of the training files. */
  val?: readonly string[];
  /** Test files; omitted: the `test` split of the training files. */
  test?: readonly string[];
  /** Use only the first n training jets (CWoLa: n signal jets). */
  nTrain?: number;
  /** Keep the backbone frozen throughout (default true). */
  frozen?: boolean;
  /** Optimiser steps (upper bound; early stopping may end sooner). */
  steps?: number;
  /** Jets per batch. */
  batch?: number;
  /** Head learning rate. Default 1e-4 (reference). */
  lr?: number;
  /** Fine-tune mode: unfreeze the backbone at this step. Default 100. */
  unfreezeAt?: number;
  /** Fine-tune mode: steps of the backbone's learning-rate catch-up. Default 100. */
  catchup?: number;
  /** Steps between validations. Default 50. */
  valEvery?: number;
  /** Validations without improvement before stopping. Default 5. */
  patience?: number;
  /** Seed. */
  seed?: number;
  /** Output folder. */
  out: string;
  /** Cap on validation and test jets (speed). */
  maxEvalJets?: number;
  /** CWoLa: signal and background classes and sample sizes. */
  cwola?: { signal: number; background: number; nBackground?: number };
  /** Load head (and fine-tuned backbone) weights from this `head.safetensors` after building. */
  restore?: string;
  /** Progress output. */
  log?: (line: string) => void;
}

/** Flat metrics written to `metrics.json`. */
export type Metrics = Record<string, number>;

const trueLabelsOf = new Map<string, Int32Array>();

/** Builds a CWoLa file: mixture labels (signal + even background = 1, odd background = 0). */
function cwolaFile(
  src: readonly string[],
  out: string,
  sig: number,
  bkg: number,
  nSig: number,
  nBkg: number,
  skip = 0,
): string {
  const r = JetFileReader.open(src[0]);
  const all = r.read(0, r.info.n);
  r.close();
  // Skip the first `skip` groups of each class (disjoint train/val/test samples from one file).
  const pick = (cls: number, n: number) => {
    const idx: number[] = [];
    let seen = 0;
    for (let j = 0; j < all.n && idx.length < n; j++) {
      if (all.labels![j] !== cls) continue;
      if (seen++ >= skip * n) idx.push(j);
    }
    if (idx.length < n) {
      throw new Error(
        `${
          src[0]
        }: only ${idx.length} jets of class ${cls} left for the CWoLa sample (need ${n}); use more data or smaller samples`,
      );
    }
    return idx;
  };
  const s = pick(sig, nSig), b = pick(bkg, nBkg);
  const jets = [...s, ...b];
  const P = all.nParticles, F = all.features.length;
  const block: JetBlock = {
    n: jets.length,
    nParticles: P,
    features: all.features,
    csts: new Float32Array(jets.length * P * F),
    valid: new Uint8Array(jets.length * P),
    ids: all.ids ? new Int32Array(jets.length * P) : undefined,
    labels: new Int32Array(jets.length),
    jets: new Float32Array(jets.length * 5),
  };
  const truth = new Int32Array(jets.length);
  jets.forEach((j, k) => {
    block.csts.set(all.csts.subarray(j * P * F, (j + 1) * P * F), k * P * F);
    block.valid.set(all.valid.subarray(j * P, (j + 1) * P), k * P);
    block.ids?.set(all.ids!.subarray(j * P, (j + 1) * P), k * P);
    block.labels![k] = k < s.length ? 1 : (k - s.length) % 2 === 0 ? 1 : 0;
    truth[k] = k < s.length ? 1 : 0;
  });
  const w = JetFileWriter.create(out, { nParticles: P, features: all.features, ids: !!block.ids });
  // Shuffle rows so mixed samples interleave (seeded).
  const rng = new Rng(7, 0), order = Array.from({ length: block.n }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng.u() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const shuffled: JetBlock = {
    ...block,
    csts: new Float32Array(block.csts.length),
    valid: new Uint8Array(block.valid.length),
    ids: block.ids ? new Int32Array(block.ids.length) : undefined,
    labels: new Int32Array(block.n),
  };
  const t2 = new Int32Array(block.n);
  order.forEach((src, dst) => {
    shuffled.csts.set(block.csts.subarray(src * P * F, (src + 1) * P * F), dst * P * F);
    shuffled.valid.set(block.valid.subarray(src * P, (src + 1) * P), dst * P);
    shuffled.ids?.set(block.ids!.subarray(src * P, (src + 1) * P), dst * P);
    shuffled.labels![dst] = block.labels![src];
    t2[dst] = truth[src];
  });
  w.append(shuffled);
  w.close();
  trueLabelsOf.set(out, t2);
  return out;
}

/**
 * Trains a head on a backbone for one downstream task and evaluates it on the test set.
 * Writes `out/metrics.json`, `out/plots/*.svg`, `out/head.safetensors`, `out/predictions.json`.
 *
 * @example
 * ```ts ignore
 * const m = await finetune({ gpu, task: "classify", backbone: "run/backbone.safetensors",
 *   train: ["train.h5"], val: ["val.h5"], test: ["test.h5"], nTrain: 1000, out: "ft" });
 * console.log(m.accuracy);
 * ```
 */
export async function finetune(o: FinetuneOptions): Promise<Metrics> {
  const { gpu } = o;
  const log = o.log ?? ((s: string) => console.log(s));
  const seed = o.seed ?? 0, batchSize = o.batch ?? 64, steps = o.steps ?? 1000, lr = o.lr ?? 1e-4;
  const frozen = o.frozen ?? true, unfreezeAt = o.unfreezeAt ?? 100, catchup = o.catchup ?? 100;
  await Deno.mkdir(`${o.out}/plots`, { recursive: true });
  if (!o.restore) {
    const { gpu: _g, log: _l, ...saved } = o;
    await writeAtomic(`${o.out}/finetune.json`, JSON.stringify(saved, null, 2));
  }

  // Backbone and head share one store: groups "backbone" and "head".
  const store = new ParameterStore(gpu);
  let bb: Backbone;
  if (o.backbone === "random") {
    let info: BackboneInfo;
    if (o.like) info = (await Backbone.load(gpu, o.like)).info;
    else {
      const r = JetFileReader.open(o.train[0]);
      const sample = r.read(0, Math.min(r.info.n, 5000));
      r.close();
      const p = preset("small");
      info = {
        encoder: p.encoder,
        features: [...sample.features],
        useIds: !!sample.ids,
        maxParticles: 128,
        preprocessor: QuantileTransform.fit([sample]),
      };
    }
    bb = Backbone.random(gpu, info, 1000 + seed, store);
  } else {
    bb = await Backbone.load(gpu, o.backbone, store);
  }
  const info = bb.info;
  const rng = new InitRng(seed + 99);

  // Data.
  // Without separate files, the training files are split 80/10/10 (train/val/test).
  const split = !o.val || !o.test;
  let train = o.train, val = o.val ?? o.train, test = o.test ?? o.train, nTrain = o.nTrain;
  if (o.task === "cwola") {
    const c = o.cwola ?? { signal: 2, background: 0 };
    // Default background sample: up to 4000, or what one file holds for three disjoint splits.
    const counts = classCounts(o.train);
    const nb = c.nBackground ??
      Math.min(4000, Math.floor((counts.get(c.background) ?? 0) / (o.val && o.test ? 1 : 3)));
    const ns = o.nTrain ?? 500;
    // Separate files are used whole; one file is cut into disjoint train/val/test samples.
    const mixed = (files: readonly string[] | undefined, name: string, part: number) => [
      cwolaFile(
        files ?? o.train,
        `${o.out}/cwola_${name}.h5`,
        c.signal,
        c.background,
        ns,
        nb,
        files ? 0 : part,
      ),
    ];
    train = mixed(o.val && o.test ? o.train : undefined, "train", 0);
    val = mixed(o.val, "val", 1);
    test = mixed(o.test, "test", 2);
    nTrain = undefined;
  }
  const loader = (
    files: readonly string[],
    shuffle: boolean,
    loop: boolean,
    maxJets?: number,
    part?: "train" | "val" | "test",
  ) =>
    new JetLoader({
      files,
      batchSize,
      seed,
      shuffle,
      loop,
      dropLast: loop,
      maxJets,
      split: split && o.task !== "cwola" ? part : undefined,
      features: info.features,
      maxParticles: info.maxParticles,
      truncate: true,
      preprocessor: info.preprocessor,
    });
  const trainLoader = loader(train, true, true, nTrain, "train");
  const probeLabels = trainLoader.next()!;
  trainLoader.restore({ epoch: 0, position: 0, streamIndex: 0 });
  const classes = o.task === "cwola"
    ? 1
    : o.task === "trackid"
    ? 4
    : o.task === "vertex"
    ? 1
    : Math.max(o.task === "btag" ? 3 : 2, maxLabel(train) + 1);
  if ((o.task === "vertex" || o.task === "trackid") && !probeLabels.vtxId) {
    throw new Error(`${o.task} needs BTag-like files (vtx_id, track_type); ${train[0]} has none`);
  }

  const D = info.encoder.dim, R = info.encoder.registers;
  const ca = o.task === "classify" || o.task === "btag" || o.task === "cwola"
    ? new ClassAttentionHead(store, rng, D, classes)
    : null;
  const th = o.task === "trackid" ? new TrackHead(store, rng, D) : null;
  const vh = o.task === "vertex" ? new VertexHead(store, rng, D) : null;
  store.finalize();
  if (o.restore) {
    const saved = decodeSafetensors(await Deno.readFile(o.restore)).tensors;
    store.write(
      new Map(
        store.parameters.filter((p) => saved.has(p.name)).map((
          p,
        ) => [p.name, saved.get(p.name)!.data]),
      ),
    );
  }
  const backboneGroup = store.group("backbone");
  backboneGroup.frozen = true;
  const opt = new AdamW(store, {
    lr,
    weightDecay: 1e-5,
    maxNorm: 1,
    schedule: warmupCosine({
      warmup: Math.min(500, Math.floor(steps / 10)),
      total: steps,
      floor: 1e-3,
      initFactor: 0.1,
    }),
  });
  const classWeights = th ? gpu.upload(Float32Array.from(TRACK_CLASS_WEIGHTS)) : null;

  /** Forward of the head and its loss on a batch; `eval` disables dropout and label noise. */
  const forward = (tape: Tape, batch: JetBatch, step: number, train: boolean) => {
    // Jet-level tasks: cut padding (cheaper attention); per-track tasks keep fixed slots so that
    // exported per-pair and per-track predictions have one width.
    const b = ca ? trimBatch(batch) : batch;
    const B = b.size, N = b.nParticles, F = b.features.length;
    const x = tape.keep(gpu.upload(b.x, [B, N, F])),
      ids = tape.keep(gpu.upload(b.ids, [B, N])),
      valid = tape.keep(gpu.upload(b.valid, [B, N]));
    const enc = bb.forward(tape, x, ids, valid, b.valid);
    const drop: DropoutContext | undefined = train ? { p: 0.2, seed, step } : undefined;
    if (ca) {
      const logits = ca.forward(tape, enc.out, enc.valid, drop);
      if (o.task === "cwola") {
        const r = new Rng(seed ^ 0x6377, step);
        const t = Float32Array.from(b.labels!, (y) => (train ? Math.abs(y - 0.05 * r.u()) : y));
        return {
          logits,
          loss: ops.pointwiseLoss(tape, "bce", logits, tape.keep(gpu.upload(t, [B, 1]))),
        };
      }
      return {
        logits,
        loss: ops.crossEntropy(tape, logits, tape.keep(gpu.upload(b.labels!)), {
          labelSmoothing: 0.1,
        }),
      };
    }
    // Per-track heads: drop the register rows.
    const rows = new Int32Array(B * N), inv = new Int32Array(B * (R + N)).fill(-1);
    for (let j = 0; j < B; j++) {
      for (
        let n = 0;
        n < N;
        n++
      ) (rows[j * N + n] = j * (R + N) + R + n, inv[j * (R + N) + R + n] = j * N + n);
    }
    const tracks = ops.gatherRows(
      tape,
      enc.out.reshape([B * (R + N), D]),
      tape.keep(gpu.upload(rows)),
      tape.keep(gpu.upload(inv)),
      [B, N, D],
    );
    if (th) {
      const logits = th.forward(tape, tracks.reshape([B * N, D]), drop);
      return {
        logits,
        loss: ops.crossEntropy(tape, logits, tape.keep(gpu.upload(b.trackType!)), {
          labelSmoothing: 0.1,
          classWeights: classWeights!,
        }),
      };
    }
    const ps = pairSlots(b.valid, b.vtxId!, B, N);
    const pairs = {
      first: tape.keep(gpu.upload(ps.first, [B, ps.P, N])),
      second: tape.keep(gpu.upload(ps.second, [B, ps.P, N])),
    };
    const logits = vh!.forward(tape, tracks, pairs, drop);
    const loss = ops.pointwiseLoss(
      tape,
      "focal",
      logits.reshape([B * ps.P, 1]),
      tape.keep(gpu.upload(ps.same, [B * ps.P, 1])),
      { valid: tape.keep(gpu.upload(ps.valid)), gamma: 3, posWeight: 0.778 },
    );
    return { logits, loss, pairs: ps };
  };

  const validate = async (): Promise<number> => {
    const l = loader(val, false, false, o.maxEvalJets, "val");
    let s = 0, n = 0;
    for (let b = l.next(); b; b = l.next()) {
      const tape = new Tape(gpu);
      const r = forward(tape, b, 0, false);
      s += (await r.loss.read())[0] * b.size;
      n += b.size;
      tape.dispose();
      gpu.submit();
    }
    l.close();
    return s / Math.max(n, 1);
  };

  let best = Infinity, bestValues: Map<string, Float32Array> | null = null, bad = 0, done = 0;
  const lossBuf = gpu.zeros([Math.max(o.valEvery ?? 50, 1)]);
  const valEvery = o.valEvery ?? 50, patience = o.patience ?? 5;
  const csv = ["step,train_loss,val_loss"];
  const t0 = performance.now();
  for (let step = 0; step < steps; step++) {
    if (!frozen && step >= unfreezeAt) {
      backboneGroup.frozen = false;
      backboneGroup.lrScale = Math.max(
        1e-8 / lr,
        Math.min(1, (step - unfreezeAt + 1) / Math.max(catchup, 1)),
      );
    }
    const b = trainLoader.next()!;
    store.zeroGrad();
    const tape = new Tape(gpu);
    const r = forward(tape, b, step, true);
    tape.backward(r.loss);
    opt.step();
    gpu.copy(r.loss, lossBuf.view([1], step % valEvery));
    tape.dispose();
    gpu.submit();
    done = step + 1;
    if (done % valEvery === 0 || done === steps) {
      const tl = await lossBuf.read() as Float32Array;
      const k = (done - 1) % valEvery + 1;
      const trainLoss = tl.slice(0, k).reduce((a, v) => a + v, 0) / k;
      const vl = await validate();
      csv.push(`${done},${trainLoss},${vl}`);
      log(
        `step ${done}/${steps} | ${
          ((done * batchSize) / ((performance.now() - t0) / 1000)).toFixed(0)
        } jets/s | train ${trainLoss.toFixed(4)} | val ${vl.toFixed(4)}${
          vl < best ? " (best)" : ""
        }`,
      );
      if (!Number.isFinite(vl)) {
        throw new Error(`validation loss became ${vl} at step ${done}; lower the learning rate`);
      }
      if (vl < best) {
        best = vl;
        bad = 0;
        bestValues = await store.read();
      } else if (++bad >= patience) {
        log(`early stop at step ${done}: no improvement for ${patience} validations`);
        break;
      }
    }
  }
  trainLoader.close();
  if (bestValues) store.write(bestValues);
  if (done > 0) {
    await writeAtomic(`${o.out}/train.csv`, csv.join("\n") + "\n");
    const rows = csv.slice(1).map((r) => r.split(",").map(Number));
    await writeAtomic(
      `${o.out}/plots/loss.svg`,
      lineSvg([
        { label: "train", x: rows.map((r) => r[0]), y: rows.map((r) => r[1]) },
        { label: "validation", x: rows.map((r) => r[0]), y: rows.map((r) => r[2]) },
      ], { title: `${o.task}: loss`, xLabel: "step", yLabel: "loss" }),
    );
  }
  const head = new Map(
    store.parameters.filter((p) => p.group.name !== "backbone" || !frozen).map((
      p,
    ) => [p.name, { shape: p.shape, data: bestValues?.get(p.name) ?? new Float32Array(p.size) }]),
  );
  if (done > 0) {
    await writeAtomic(
      `${o.out}/head.safetensors`,
      encodeSafetensors(head, { task: o.task, backbone: o.backbone }),
    );
  }

  // Test.
  const metrics = await evaluateTest(
    o,
    gpu,
    forward,
    loader(test, false, false, o.maxEvalJets, "test"),
    classes,
    test[0],
  );
  metrics.steps = done;
  metrics.best_val_loss = best;
  await writeAtomic(`${o.out}/metrics.json`, JSON.stringify(metrics, null, 2));
  return metrics;
}

/**
 * Writes test-set predictions: `jet_logits` (N, classes) for jet tasks, `edge_logits`
 * (N, pairs) for vertex finding (pair slots i < j of the track slots), `track_logits`
 * (N, tracks, 4) for track identification.
 */
async function writePredictions(
  path: string,
  task: DownstreamTask,
  batches: Float32Array[],
  width: number,
  perTrack: number,
): Promise<void> {
  await h5wasm.ready;
  const n = batches.reduce((s, b) => s + b.length, 0) / Math.max(width, 1);
  const data = new Float32Array(n * width);
  let o = 0;
  for (const b of batches) (data.set(b, o), o += b.length);
  const tmp = `${path}.partial-${Deno.pid}`;
  const f = new h5wasm.File(tmp, "w");
  const name = task === "vertex"
    ? "edge_logits"
    : task === "trackid"
    ? "track_logits"
    : "jet_logits";
  const shape = task === "trackid" ? [n, width / perTrack, perTrack] : [n, width];
  f.create_dataset({ name, data, shape, dtype: "<f" });
  f.close();
  await Deno.rename(tmp, path);
}

function classCounts(files: readonly string[]): Map<number, number> {
  const r = JetFileReader.open(files[0]);
  const b = r.read(0, r.info.n);
  r.close();
  const m = new Map<number, number>();
  for (const l of b.labels ?? []) m.set(l, (m.get(l) ?? 0) + 1);
  return m;
}

function maxLabel(files: readonly string[]): number {
  const r = JetFileReader.open(files[0]);
  const b = r.read(0, Math.min(r.info.n, 20000));
  r.close();
  return b.labels ? Math.max(...b.labels) : 0;
}

type ForwardFn = (
  tape: Tape,
  b: JetBatch,
  step: number,
  train: boolean,
) => { logits: Tensor; loss: Tensor; pairs?: ReturnType<typeof pairSlots> };

async function evaluateTest(
  o: FinetuneOptions,
  gpu: Gpu,
  forward: ForwardFn,
  l: JetLoader,
  classes: number,
  testFile: string,
): Promise<Metrics> {
  const logits: number[] = [], labels: number[] = [];
  const ariRef: Map<number, number[]> = new Map(), ariStd: Map<number, number[]> = new Map();
  const trkPred: number[] = [], trkTrue: number[] = [], trkN: number[] = [];
  const raw: Float32Array[] = []; // every batch's logits, for predictions.h5
  let rowWidth = 0;
  for (let b = l.next(); b; b = l.next()) {
    const tape = new Tape(gpu);
    const r = forward(tape, b, 0, false);
    const lg = await r.logits.read() as Float32Array;
    raw.push(lg);
    rowWidth = lg.length / b.size;
    const N = b.nParticles;
    if (o.task === "vertex") {
      const P = r.pairs!.P;
      for (let j = 0; j < b.size; j++) {
        const real: number[] = [];
        for (let n = 0; n < N; n++) if (b.valid[j * N + n]) real.push(n);
        if (real.length < 2) continue;
        // Edges among real tracks in (i < j) order, from the pair slots.
        const edges: boolean[] = [], vtx = real.map((n) => b.vtxId![j * N + n]);
        let p = 0;
        const slot = new Map<string, number>();
        for (let a = 0; a < N; a++) for (let c = a + 1; c < N; c++) slot.set(`${a},${c}`, p++);
        for (let a = 0; a < real.length; a++) {
          for (let c = a + 1; c < real.length; c++) {
            edges.push(lg[j * P + slot.get(`${real[a]},${real[c]}`)!] > 0);
          }
        }
        const nv = Math.max(...vtx);
        (ariRef.get(nv) ?? ariRef.set(nv, []).get(nv)!).push(referenceAri(edges, vtx));
        (ariStd.get(nv) ?? ariStd.set(nv, []).get(nv)!).push(
          adjustedRandIndex(componentsFromEdges(real.length, edges), vtx),
        );
      }
    } else if (o.task === "trackid") {
      for (let j = 0; j < b.size; j++) {
        let nt = 0;
        for (let n = 0; n < N; n++) nt += b.valid[j * N + n];
        for (let n = 0; n < N; n++) {
          const i = j * N + n;
          if (!b.valid[i]) continue;
          let best = 0;
          for (let c = 1; c < 4; c++) if (lg[i * 4 + c] > lg[i * 4 + best]) best = c;
          trkPred.push(best);
          trkTrue.push(b.trackType![i]);
          trkN.push(nt);
        }
      }
    } else {
      logits.push(...lg);
      labels.push(...b.labels!);
    }
    tape.dispose();
    gpu.submit();
  }
  l.close();
  await writePredictions(
    `${o.out}/predictions.h5`,
    o.task,
    raw,
    rowWidth,
    o.task === "trackid" ? 4 : 1,
  );
  const m: Metrics = {};
  const plots = `${o.out}/plots`;
  if (o.task === "classify" || o.task === "btag") {
    m.accuracy = accuracy(logits, labels, classes);
    const auc = perClassAuc(logits, labels, classes);
    auc.forEach((a, c) => (m[`auc_class_${c}`] = a));
    const rocs = Array.from({ length: classes }, (_, c) => {
      const sc = Array.from(
        { length: labels.length },
        (_, i) =>
          logits[i * classes + c] - Math.max(...logits.slice(i * classes, (i + 1) * classes)),
      );
      const r = rocCurve(sc, labels.map((y) => (y === c ? 1 : 0)));
      return { label: `class ${c} (AUC ${auc[c].toFixed(3)})`, x: r.fpr, y: r.tpr };
    });
    await writeAtomic(
      `${plots}/roc.svg`,
      lineSvg(rocs, {
        title: "one-vs-rest ROC",
        xLabel: "false-positive rate",
        yLabel: "true-positive rate",
      }),
    );
    m.auc = auc.filter(Number.isFinite).reduce((s, v) => s + v, 0) /
      auc.filter(Number.isFinite).length;
  } else if (o.task === "cwola") {
    const truth = trueLabelsOf.get(testFile)!;
    const roc = rocCurve(logits, truth);
    const s = sicAt(roc);
    m.sic = s.sic;
    m.sic_fpr = s.fpr;
    m.sic_tpr = s.tpr;
    m.auc = rocAuc(logits, truth);
    m.accuracy_true_labels = logits.filter((v, i) => (v > 0 ? 1 : 0) === truth[i]).length /
      truth.length;
    await writeAtomic(
      `${plots}/roc.svg`,
      lineSvg([{
        label: "CWoLa classifier",
        x: roc.tpr.slice(1),
        y: roc.fpr.slice(1).map((f) => 1 / Math.max(f, 1e-6)),
      }], {
        title: "ROC on true labels",
        xLabel: "signal efficiency",
        yLabel: "background rejection 1/FPR",
        logY: true,
      }),
    );
  } else if (o.task === "vertex") {
    const all = (m2: Map<number, number[]>) => [...m2.values()].flat().filter(Number.isFinite);
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / Math.max(a.length, 1);
    m.ari = mean(all(ariRef));
    m.ari_standard = mean(all(ariStd));
    const nvs = [...ariRef.keys()].sort((a, b) => a - b);
    for (const nv of nvs) {
      m[`ari_nvtx_${nv}`] = mean(ariRef.get(nv)!.filter(Number.isFinite));
      m[`ari_standard_nvtx_${nv}`] = mean(ariStd.get(nv)!.filter(Number.isFinite));
    }
    await writeAtomic(
      `${plots}/ari_vs_nvtx.svg`,
      lineSvg([
        { label: "reference ARI", x: nvs, y: nvs.map((v) => m[`ari_nvtx_${v}`]) },
        { label: "standard ARI", x: nvs, y: nvs.map((v) => m[`ari_standard_nvtx_${v}`]) },
      ], { title: "vertex finding", xLabel: "number of secondary vertices", yLabel: "ARI" }),
    );
  } else {
    m.balanced_accuracy = balancedAccuracy(trkPred, trkTrue);
    const ns = [...new Set(trkN)].sort((a, b) => a - b);
    for (const n of ns) {
      const idx = trkN.map((v, i) => (v === n ? i : -1)).filter((i) => i >= 0);
      m[`balanced_accuracy_ntrk_${n}`] = balancedAccuracy(
        idx.map((i) => trkPred[i]),
        idx.map((i) => trkTrue[i]),
      );
    }
    await writeAtomic(
      `${plots}/balanced_accuracy_vs_ntrk.svg`,
      lineSvg([{
        label: "balanced accuracy",
        x: ns,
        y: ns.map((n) => m[`balanced_accuracy_ntrk_${n}`]),
      }], {
        title: "track identification",
        xLabel: "tracks in the jet",
        yLabel: "balanced accuracy",
      }),
    );
  }
  return m;
}

/**
 * Re-evaluates a finished fine-tuning run (its `finetune.json` and `head.safetensors`) on new
 * test files, writing `metrics.json`, plots and predictions into `out` (default `run/eval`).
 *
 * @example
 * ```ts ignore
 * const m = await evaluateRun(gpu, "ft", ["other_test.h5"]);
 * ```
 */
export async function evaluateRun(
  gpu: Gpu,
  runDir: string,
  test: readonly string[],
  out = `${runDir}/eval`,
): Promise<Metrics> {
  let saved: Omit<FinetuneOptions, "gpu">;
  try {
    saved = JSON.parse(await Deno.readTextFile(`${runDir}/finetune.json`));
  } catch (e) {
    throw new Error(
      `${runDir}: not a fine-tuning run (${
        (e as Error).message
      }); create one with \`deno task finetune\``,
    );
  }
  return await finetune({
    ...saved,
    gpu,
    test,
    val: saved.val ?? saved.train,
    steps: 0,
    restore: `${runDir}/head.safetensors`,
    out,
    log: () => {},
  });
}
