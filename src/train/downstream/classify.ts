/**
 * Jet classification (and out-of-distribution b-tagging, the same task on BTag-like files with
 * at least 3 classes): a class-attention head on the backbone tokens, cross-entropy with label
 * smoothing 0.1; test metrics accuracy and one-vs-rest AUC per class, a ROC plot.
 *
 * @module
 */
import * as ops from "../../autograd/ops.ts";
import type { JetBatch } from "../../data/loader.ts";
import { accuracy, classScores, perClassAuc, rejectionAt, rocCurve } from "../../eval/metrics.ts";
import { classNamesOf } from "../../data/labels.ts";
import { lineSvg } from "../../eval/plots.ts";
import { ClassAttentionHead } from "../../heads/heads.ts";
import { writeAtomic } from "../../io/files.ts";
import {
  type Collector,
  defineDownstream,
  type DownstreamTask,
  type Metrics,
  type PredictionArrays,
} from "./task.ts";

/** Collects jet logits and labels; accuracy, per-class AUC and the one-vs-rest ROC. */
export class JetClassCollector implements Collector {
  /** Logits (jets x classes), row-major. */
  readonly logits: number[] = [];
  /** Labels. */
  readonly labels: number[] = [];
  readonly #classes: number;
  readonly #names?: readonly string[];

  /** A collector for `classes` outputs, with the class names when the data has them. */
  constructor(classes: number, names?: readonly string[]) {
    this.#classes = classes;
    this.#names = names;
  }

  add(batch: JetBatch, logits: Float32Array): void {
    for (const v of logits) this.logits.push(v);
    for (const y of batch.labels!) this.labels.push(y);
  }

  metrics(): Metrics {
    const C = this.#classes, m: Metrics = {};
    m.accuracy = accuracy(this.logits, this.labels, C);
    const auc = perClassAuc(this.logits, this.labels, C);
    auc.forEach((a, c) => (m[`auc_class_${c}`] = a));
    const finite = auc.filter(Number.isFinite);
    m.auc = finite.reduce((s, v) => s + v, 0) / finite.length;
    if (C === 2) {
      // Binary tagging (signal = class 1): background rejection at 30 % and 50 % efficiency.
      const roc = rocCurve(classScores(this.logits, 2, 1), this.labels);
      m.rejection_at_eff_0_3 = rejectionAt(roc, 0.3);
      m.rejection_at_eff_0_5 = rejectionAt(roc, 0.5);
    }
    return m;
  }

  async plots(dir: string, m: Metrics): Promise<void> {
    const C = this.#classes, n = this.labels.length;
    const name = (c: number) => this.#names?.[c] ?? `class ${c}`;
    const rocs = Array.from({ length: C }, (_, c) => {
      const r = rocCurve(classScores(this.logits, C, c), this.labels.map((y) => (y === c ? 1 : 0)));
      return { label: `${name(c)} (AUC ${m[`auc_class_${c}`].toFixed(3)})`, x: r.fpr, y: r.tpr };
    });
    await writeAtomic(
      `${dir}/roc.svg`,
      lineSvg([...rocs, { label: "random", x: [0, 1], y: [0, 1], style: "reference" }], {
        title: `one-vs-rest ROC (${n} test jets)`,
        xLabel: "background efficiency εB (false-positive rate)",
        yLabel: "signal efficiency εS (true-positive rate)",
        xRange: [0, 1],
        yRange: [0, 1],
      }),
    );
    if (C === 2) {
      const nb = this.labels.filter((y) => y === 0).length;
      const rej = (
        v: number,
      ) => (Number.isFinite(v) ? v.toFixed(1) : `above ${nb} (none of ${nb} passes)`);
      // The top-tagging landscape's view: background rejection against signal efficiency.
      const r = rocCurve(classScores(this.logits, 2, 1), this.labels);
      const pts = r.tpr.map((t, k) => [t, r.fpr[k]]).filter(([t, f]) => f > 0 && t > 0);
      await writeAtomic(
        `${dir}/rejection.svg`,
        lineSvg([
          {
            label: `${name(1)} vs ${name(0)}`,
            x: pts.map((p) => p[0]),
            y: pts.map((p) => 1 / p[1]),
          },
          {
            label: "random (1/εS)",
            x: Array.from({ length: 100 }, (_, i) => (i + 1) / 100),
            y: Array.from({ length: 100 }, (_, i) => 100 / (i + 1)),
            style: "reference",
          },
        ], {
          title: `background rejection (${n} test jets)`,
          xLabel: "signal efficiency εS",
          yLabel: "background rejection 1/εB",
          logY: true,
          note: `1/εB at εS = 0.3: ${rej(m.rejection_at_eff_0_3)}, at 0.5: ${
            rej(m.rejection_at_eff_0_5)
          } (points where no background jet passes are left out)`,
        }),
      );
    }
  }

  predictions(): PredictionArrays {
    return {
      datasets: [
        {
          name: "jet_logits",
          rowShape: [this.#classes],
          dtype: "f32" as const,
          data: this.logits,
        },
        { name: "labels", rowShape: [], dtype: "i64" as const, data: this.labels },
      ],
    };
  }
}

function classTask(name: "classify" | "btag", minClasses: number, summary: string) {
  return defineDownstream<ClassAttentionHead>({
    name,
    summary,
    metric: "accuracy",
    trims: true,
    outputs: (maxLabel) => Math.max(minClasses, maxLabel + 1),
    check(batch, file) {
      if (!batch.labels) throw new Error(`${name} needs jet labels; ${file} has no "labels"`);
    },
    buildHead: (c) => new ClassAttentionHead(c.store, c.rng, c.dim, c.outputs),
    forward(head, c) {
      const logits = head.forward(c.tape, c.encoded.out, c.encoded.valid.tensor, c.dropout);
      const labels = c.tape.keep(c.gpu.upload(c.batch.labels!));
      return { logits, loss: ops.crossEntropy(c.tape, logits, labels, { labelSmoothing: 0.1 }) };
    },
    collector: (outputs, _data, testFile) => new JetClassCollector(outputs, classNamesOf(testFile)),
  });
}

/** `--task classify`: jet classification. */
export const CLASSIFY: DownstreamTask = classTask(
  "classify",
  2,
  "jet classification (class-attention head; accuracy, AUC per class)",
);

/** `--task btag`: out-of-distribution b-tagging on BTag-like jets (light, charm, bottom). */
export const BTAG: DownstreamTask = classTask(
  "btag",
  3,
  "b-tagging of BTag-like jets (light / charm / bottom; accuracy, AUC per class)",
);
