/**
 * Weakly supervised tagging (CWoLa, classification without labels): two mixed samples — signal
 * plus half of the background labelled 1, the other half of the background labelled 0 — and a
 * class-attention head trained with BCE (labels softened by up to 0.05) to tell the mixtures
 * apart. The task builds its own samples and keeps their true labels, so the test metrics (SIC at
 * the FPR closest to 1 %, AUC and accuracy on the true labels) need nothing else.
 *
 * @module
 */
import * as ops from "../../autograd/ops.ts";
import { JetFileReader, JetFileWriter } from "../../data/hdf5.ts";
import type { JetBatch } from "../../data/loader.ts";
import { Rng } from "../../data/rng.ts";
import type { JetBlock } from "../../data/types.ts";
import { rocAuc, rocCurve, sicAt } from "../../eval/metrics.ts";
import { lineSvg } from "../../eval/plots.ts";
import { ClassAttentionHead } from "../../heads/heads.ts";
import { writeAtomic } from "../../io/files.ts";
import {
  type Collector,
  defineDownstream,
  type DownstreamTask,
  type Metrics,
  type PredictionArrays,
  type PreparedData,
  type PrepareOptions,
} from "./task.ts";

/** The jets of class `cls` in `all`, skipping the first `skip * n` (disjoint samples). */
function pick(
  all: JetBlock,
  file: string,
  cls: number,
  n: number,
  skip: number,
  flag: string,
): number[] {
  const idx: number[] = [];
  let seen = 0;
  for (let j = 0; j < all.n && idx.length < n; j++) {
    if (all.labels![j] !== cls) continue;
    if (seen++ >= skip * n) idx.push(j);
  }
  if (idx.length < n) {
    throw new Error(
      `${file}: only ${idx.length} jets of class ${cls} left for the CWoLa sample (need ${n}); ` +
        `lower ${flag} (the train, validation and test samples each take that many) or give ` +
        "more jets of that class (--train more files)",
    );
  }
  return idx;
}

/** The rows `order` of `b` as a new block. */
function rowsOf(b: JetBlock, order: readonly number[]): JetBlock {
  const P = b.nParticles, F = b.features.length, n = order.length;
  const out: JetBlock = {
    n,
    nParticles: P,
    features: b.features,
    csts: new Float32Array(n * P * F),
    valid: new Uint8Array(n * P),
    ids: b.ids ? new Int32Array(n * P) : undefined,
    labels: new Int32Array(n),
    jets: new Float32Array(n * 5),
  };
  order.forEach((src, dst) => {
    out.csts.set(b.csts.subarray(src * P * F, (src + 1) * P * F), dst * P * F);
    out.valid.set(b.valid.subarray(src * P, (src + 1) * P), dst * P);
    out.ids?.set(b.ids!.subarray(src * P, (src + 1) * P), dst * P);
  });
  return out;
}

/**
 * Writes a CWoLa file: `nSig` signal and `nBkg` background jets of `src`, mixture labels (signal
 * and even background = 1, odd background = 0), rows shuffled (seeded) so the mixtures
 * interleave. Returns the true labels (1 = signal) in file order.
 *
 * @param src source files (the first is read)
 * @param out file to write
 * @param o classes, sample sizes, and `skip` groups of each class to pass over
 * @returns the true labels of the written rows
 * @example
 * ```ts ignore
 * const truth = writeCwolaFile(["jets.h5"], "cwola_train.h5", { signal: 2, background: 0, nSig: 500, nBkg: 4000 });
 * ```
 */
export function writeCwolaFile(
  src: readonly string[],
  out: string,
  o: { signal: number; background: number; nSig: number; nBkg: number; skip?: number },
): Int32Array {
  const r = JetFileReader.open(src[0]);
  const all = r.read(0, r.info.n);
  r.close();
  const s = pick(all, src[0], o.signal, o.nSig, o.skip ?? 0, "--n-train (signal jets)");
  const b = pick(all, src[0], o.background, o.nBkg, o.skip ?? 0, "--n-background");
  const jets = [...s, ...b];
  const mixture = jets.map((_, k) => (k < s.length ? 1 : (k - s.length) % 2 === 0 ? 1 : 0));
  const truth = jets.map((_, k) => (k < s.length ? 1 : 0));
  const rng = new Rng(7, 0), order = Array.from({ length: jets.length }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng.u() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const block = rowsOf(all, order.map((k) => jets[k]));
  order.forEach((k, dst) => (block.labels![dst] = mixture[k]));
  const w = JetFileWriter.create(out, {
    nParticles: all.nParticles,
    features: all.features,
    ids: !!all.ids,
  });
  w.append(block);
  w.close();
  return Int32Array.from(order, (k) => truth[k]);
}

/** Jets per class in the first file. */
function classCounts(file: string): Map<number, number> {
  const r = JetFileReader.open(file);
  const b = r.read(0, r.info.n);
  r.close();
  const m = new Map<number, number>();
  for (const l of b.labels ?? []) m.set(l, (m.get(l) ?? 0) + 1);
  return m;
}

/** Builds the train/val/test mixtures (separate files used whole; one file cut in three). */
function prepare(o: PrepareOptions): PreparedData {
  const c = o.cwola ?? { signal: 2, background: 0 };
  const separate = !!(o.val && o.test);
  // Default background sample: up to 4000, or what one file holds for three disjoint splits.
  const nb = c.nBackground ??
    Math.min(
      4000,
      Math.floor((classCounts(o.train[0]).get(c.background) ?? 0) / (separate ? 1 : 3)),
    );
  const ns = o.nTrain ?? 500;
  const truth = new Map<string, Int32Array>();
  const mixed = (files: readonly string[] | undefined, name: string, part: number) => {
    const out = `${o.out}/cwola_${name}.h5`;
    truth.set(
      out,
      writeCwolaFile(files ?? o.train, out, {
        signal: c.signal,
        background: c.background,
        nSig: ns,
        nBkg: nb,
        skip: files ? 0 : part,
      }),
    );
    return [out];
  };
  return {
    train: mixed(separate ? o.train : undefined, "train", 0),
    val: mixed(o.val, "val", 1),
    test: mixed(o.test, "test", 2),
    split: false,
    truth,
  };
}

/** Collects the classifier's scores; metrics on the true labels of the test mixture. */
class CwolaCollector implements Collector {
  readonly #scores: number[] = [];
  readonly #labels: number[] = [];
  readonly #truth: Int32Array;

  constructor(truth: Int32Array) {
    this.#truth = truth;
  }

  add(batch: JetBatch, logits: Float32Array): void {
    for (const v of logits) this.#scores.push(v);
    for (const y of batch.labels!) this.#labels.push(y);
  }

  metrics(): Metrics {
    const truth = this.#truth.subarray(0, this.#scores.length), s = this.#scores;
    const roc = rocCurve(s, truth), sic = sicAt(roc);
    return {
      sic: sic.sic,
      sic_fpr: sic.fpr,
      sic_tpr: sic.tpr,
      auc: rocAuc(s, truth),
      accuracy_true_labels: s.filter((v, i) => (v > 0 ? 1 : 0) === truth[i]).length /
        truth.length,
    };
  }

  async plots(dir: string, m: Metrics): Promise<void> {
    const truth = this.#truth.subarray(0, this.#scores.length);
    const roc = rocCurve(this.#scores, truth);
    // Points where no background passes have infinite rejection: left out, not clamped.
    const pts = roc.tpr.map((t, k) => [t, roc.fpr[k]]).filter(([t, f]) => t > 0 && f > 0);
    await writeAtomic(
      `${dir}/roc.svg`,
      lineSvg([
        { label: "CWoLa classifier", x: pts.map((p) => p[0]), y: pts.map((p) => 1 / p[1]) },
        {
          label: "random (1/εS)",
          x: Array.from({ length: 100 }, (_, i) => (i + 1) / 100),
          y: Array.from({ length: 100 }, (_, i) => 100 / (i + 1)),
          style: "reference",
        },
      ], {
        title: `ROC on the true labels (${truth.length} test jets)`,
        xLabel: "signal efficiency εS",
        yLabel: "background rejection 1/εB",
        logY: true,
        note: `SIC = εS/√εB = ${m.sic.toFixed(2)} at εB = ${m.sic_fpr.toPrecision(2)}; ` +
          "points with no background passing are left out",
      }),
    );
  }

  predictions(): PredictionArrays {
    return {
      datasets: [
        { name: "jet_logits", rowShape: [1], dtype: "f32" as const, data: this.#scores },
        { name: "labels", rowShape: [], dtype: "i64" as const, data: this.#labels },
        {
          name: "true_labels",
          rowShape: [],
          dtype: "i64" as const,
          data: this.#truth.subarray(0, this.#scores.length),
        },
      ],
    };
  }
}

/** `--task cwola`: weakly supervised tagging of class `signal` against `background`. */
export const CWOLA: DownstreamTask = defineDownstream<ClassAttentionHead>({
  name: "cwola",
  summary: "weakly supervised (CWoLa) tagging from mixed samples (SIC at 1% FPR, AUC)",
  metric: "sic",
  trims: true,
  outputs: () => 1,
  check(batch, file) {
    if (!batch.labels) throw new Error(`cwola needs jet labels; ${file} has no "labels"`);
  },
  buildHead: (c) => new ClassAttentionHead(c.store, c.rng, c.dim, 1),
  forward(head, c) {
    const logits = head.forward(c.tape, c.encoded.out, c.encoded.valid.tensor, c.dropout);
    const r = new Rng(c.seed ^ 0x6377, c.step);
    const t = Float32Array.from(c.batch.labels!, (y) => (c.train ? Math.abs(y - 0.05 * r.u()) : y));
    const target = c.tape.keep(c.gpu.upload(t, [c.batch.size, 1]));
    return { logits, loss: ops.pointwiseLoss(c.tape, "bce", logits, target) };
  },
  collector(_outputs, data, testFile) {
    const truth = data.truth?.get(testFile);
    if (!truth) throw new Error(`cwola: no true labels for ${testFile} (prepare the data first)`);
    return new CwolaCollector(truth);
  },
  prepare,
});
