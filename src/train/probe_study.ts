/**
 * Linear-probe evaluation of a frozen backbone: per-jet features (the mean of the encoder
 * output over registers and particles) feed a softmax regression trained on a few labelled
 * jets; the test accuracy measures how much class information the representation carries.
 * The same probe on randomly initialised backbones of the same shape is the baseline.
 *
 * @module
 */
import { type JetBatch, JetLoader } from "../data/loader.ts";
import type { Gpu } from "../gpu/gpu.ts";
import { Backbone } from "../mpm/backbone.ts";

/** Per-jet features and labels. */
export interface Embedded {
  /** (n, dim) features. */
  x: Float64Array;
  /** (n) labels. */
  y: Int32Array;
  /** Feature width. */
  dim: number;
}

/** Embeds the jets of a loader with a backbone. */
export async function embedJets(bb: Backbone, loader: JetLoader): Promise<Embedded> {
  const xs: Float32Array[] = [], ys: Int32Array[] = [];
  let dim = 0;
  // One batch in flight (see Backbone.embedBatch).
  const start = (b: JetBatch | null) => {
    if (b && !b.labels) throw new Error("the probe needs labelled jets (a `labels` dataset)");
    return b ? { labels: b.labels!, embedded: bb.embedBatch(b) } : null;
  };
  for (let cur = start(loader.next()); cur;) {
    const next = start(loader.next());
    const e = await cur.embedded;
    xs.push(e.pooled);
    ys.push(cur.labels);
    dim = e.dim;
    cur = next;
  }
  const n = ys.reduce((s, y) => s + y.length, 0);
  const x = new Float64Array(n * dim), y = new Int32Array(n);
  let o = 0;
  xs.forEach((v, i) => {
    x.set(v, o * dim);
    y.set(ys[i], o);
    o += ys[i].length;
  });
  return { x, y, dim };
}

/**
 * Trains a softmax regression (standardised inputs, L2 1e-3, full-batch Adam, float64 on the
 * CPU) and returns the test accuracy.
 *
 * @example
 * ```ts
 * import { softmaxProbe } from "@mpm/webgpu/train";
 * const x = new Float64Array([0, 0, 1, 1, 0, 1, 1, 0]), y = new Int32Array([0, 1, 0, 1]);
 * console.assert(softmaxProbe({ x, y, dim: 2 }, { x, y, dim: 2 }, 2) >= 0.5);
 * ```
 */
export function softmaxProbe(
  train: Embedded,
  test: Embedded,
  classes: number,
  o: { iters?: number; lr?: number; l2?: number } = {},
): number {
  const D = train.dim, n = train.y.length, C = classes;
  const mean = new Float64Array(D), std = new Float64Array(D);
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) mean[d] += train.x[i * D + d] / n;
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < D; d++) std[d] += (train.x[i * D + d] - mean[d]) ** 2 / n;
  }
  for (let d = 0; d < D; d++) std[d] = Math.sqrt(std[d]) || 1;
  const z = (e: Embedded, i: number, d: number) => (e.x[i * D + d] - mean[d]) / std[d];
  const W = new Float64Array((D + 1) * C),
    m = new Float64Array(W.length),
    v = new Float64Array(W.length);
  const iters = o.iters ?? 400, lr = o.lr ?? 0.05, l2 = o.l2 ?? 1e-3;
  const logits = new Float64Array(C), grad = new Float64Array(W.length);
  for (let t = 1; t <= iters; t++) {
    grad.fill(0);
    for (let i = 0; i < n; i++) {
      let mx = -Infinity;
      for (let c = 0; c < C; c++) {
        let s = W[D * C + c];
        for (let d = 0; d < D; d++) s += z(train, i, d) * W[d * C + c];
        logits[c] = s;
        mx = Math.max(mx, s);
      }
      let sum = 0;
      for (let c = 0; c < C; c++) sum += logits[c] = Math.exp(logits[c] - mx);
      for (let c = 0; c < C; c++) {
        const g = (logits[c] / sum - (c === train.y[i] ? 1 : 0)) / n;
        grad[D * C + c] += g;
        for (let d = 0; d < D; d++) grad[d * C + c] += g * z(train, i, d);
      }
    }
    for (let k = 0; k < W.length; k++) {
      const g = grad[k] + (k < D * C ? l2 * W[k] : 0);
      m[k] = 0.9 * m[k] + 0.1 * g;
      v[k] = 0.999 * v[k] + 0.001 * g * g;
      W[k] -= lr * (m[k] / (1 - 0.9 ** t)) / (Math.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8);
    }
  }
  let correct = 0;
  for (let i = 0; i < test.y.length; i++) {
    let best = 0, bestV = -Infinity;
    for (let c = 0; c < C; c++) {
      let s = W[D * C + c];
      for (let d = 0; d < D; d++) s += z(test, i, d) * W[d * C + c];
      if (s > bestV) [bestV, best] = [s, c];
    }
    if (best === test.y[i]) correct++;
  }
  return correct / Math.max(test.y.length, 1);
}

/** Result of {@linkcode probeStudy}. */
export interface ProbeStudyResult {
  /** Test accuracy of the probe on the pre-trained backbone. */
  pretrained: number;
  /** Test accuracies on random backbones, one per seed. */
  random: number[];
  /** Labelled training jets, test jets, classes. */
  nTrain: number;
  /** Test jets. */
  nTest: number;
  /** Classes. */
  classes: number;
}

/**
 * Compares the linear probe on a pre-trained backbone with the same probe on random backbones.
 *
 * @example
 * ```ts ignore
 * const r = await probeStudy(gpu, "run/backbone.safetensors", ["jets.h5"], { trainJets: 1000 });
 * ```
 */
export async function probeStudy(
  gpu: Gpu,
  backbonePath: string,
  files: readonly string[],
  o: {
    trainJets?: number;
    testJets?: number;
    seeds?: readonly number[];
    /** Progress lines (one per backbone embedded and probed). */
    log?: (line: string) => void;
    /** Skip and count bad jets instead of stopping. */
    skipBadJets?: boolean;
  } = {},
): Promise<ProbeStudyResult> {
  const log = o.log ?? (() => {});
  const bb = await Backbone.load(gpu, backbonePath);
  const loader = (split: "train" | "test", maxJets: number) =>
    new JetLoader({
      files,
      batchSize: 250,
      split,
      maxJets,
      shuffle: false,
      loop: false,
      dropLast: false,
      features: bb.info.features,
      maxParticles: bb.info.maxParticles,
      preprocessor: bb.info.preprocessor,
      onBadJet: o.skipBadJets ? "skip" : "error",
      seed: 12345,
    });
  const run = async (b: Backbone) => {
    const tr = loader("train", o.trainJets ?? 1000), te = loader("test", o.testJets ?? 4000);
    const [a, t] = [await embedJets(b, tr), await embedJets(b, te)];
    tr.close();
    te.close();
    return [a, t] as const;
  };
  const t0 = performance.now();
  const [tr, te] = await run(bb);
  const classes = Math.max(...tr.y, ...te.y) + 1;
  const pretrained = softmaxProbe(tr, te, classes);
  const seeds = o.seeds ?? [0, 1, 2];
  const perBackbone = (performance.now() - t0) / 1000;
  log(
    `pre-trained backbone: ${(100 * pretrained).toFixed(1)} % (${perBackbone.toFixed(0)} s; ETA ${
      (perBackbone * seeds.length).toFixed(0)
    } s for the random backbones)`,
  );
  const random: number[] = [];
  for (const [k, s] of seeds.entries()) {
    const [rtr, rte] = await run(Backbone.random(gpu, bb.info, 1000 + s));
    random.push(softmaxProbe(rtr, rte, classes));
    log(`random backbone ${k + 1}/${seeds.length} (seed ${s}): ${(100 * random[k]).toFixed(1)} %`);
  }
  return { pretrained, random, nTrain: tr.y.length, nTest: te.y.length, classes };
}
