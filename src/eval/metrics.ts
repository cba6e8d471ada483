/**
 * Downstream metrics: accuracy, ROC curves and AUC, the significance improvement (SIC) at a
 * background efficiency, adjusted Rand indices for vertex finding (the reference's per-jet
 * chance correction and the standard Hubert–Arabie ARI), and balanced accuracy.
 *
 * @module
 */

/**
 * Fraction of rows whose argmax over `classes` logits equals the label.
 *
 * @example
 * ```ts
 * import { accuracy } from "@mpm/webgpu/eval";
 * console.assert(accuracy([0.1, 0.9, 0.8, 0.2], [1, 1], 2) === 0.5);
 * ```
 */
export function accuracy(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: number,
): number {
  let ok = 0;
  for (let i = 0; i < labels.length; i++) {
    if (argmax(logits, i * classes, classes) === labels[i]) ok++;
  }
  return labels.length ? ok / labels.length : NaN;
}

function argmax(a: ArrayLike<number>, o: number, n: number): number {
  let b = 0;
  for (let c = 1; c < n; c++) if (a[o + c] > a[o + b]) b = c;
  return b;
}

/** A ROC curve: false- and true-positive rates at every distinct threshold, FPR increasing. */
export interface Roc {
  /** False-positive rates (background efficiency). */
  fpr: number[];
  /** True-positive rates (signal efficiency). */
  tpr: number[];
  /** Score thresholds (score >= threshold is called signal). */
  thresholds: number[];
}

/**
 * ROC curve of `scores` for binary `labels` (1 = signal), ties handled as one threshold.
 *
 * @example
 * ```ts
 * import { rocCurve } from "@mpm/webgpu/eval";
 * const r = rocCurve([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0]);
 * console.assert(r.tpr[1] === 0.5 && r.fpr[2] === 0.5);
 * ```
 */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number>): Roc {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) =>
    scores[b] - scores[a]
  );
  let P = 0, N = 0;
  for (let i = 0; i < labels.length; i++) labels[i] ? P++ : N++;
  const fpr = [0], tpr = [0], thresholds = [Infinity];
  let tp = 0, fp = 0;
  for (let k = 0; k < idx.length; k++) {
    labels[idx[k]] ? tp++ : fp++;
    if (k + 1 < idx.length && scores[idx[k + 1]] === scores[idx[k]]) continue;
    fpr.push(N ? fp / N : 0);
    tpr.push(P ? tp / P : 0);
    thresholds.push(scores[idx[k]]);
  }
  return { fpr, tpr, thresholds };
}

/**
 * Area under the ROC curve (trapezoidal; equals the Mann-Whitney probability with ties as 1/2).
 *
 * @example
 * ```ts
 * import { rocAuc } from "@mpm/webgpu/eval";
 * console.assert(rocAuc([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0]) === 0.75);
 * ```
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const r = rocCurve(scores, labels);
  let a = 0;
  for (let k = 1; k < r.fpr.length; k++) {
    a += (r.fpr[k] - r.fpr[k - 1]) * (r.tpr[k] + r.tpr[k - 1]) / 2;
  }
  return a;
}

/**
 * One-vs-rest ROC AUC of each class from (n, classes) logits (the softmax is monotone per class,
 * so the raw logit differences to the log-sum-exp are used as scores).
 *
 * @example
 * ```ts
 * import { perClassAuc } from "@mpm/webgpu/eval";
 * const auc = perClassAuc([2, 0, 0, 2], [0, 1], 2);
 * console.assert(auc[0] === 1 && auc[1] === 1);
 * ```
 */
export function perClassAuc(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: number,
): number[] {
  return Array.from({ length: classes }, (_, c) => {
    const y = Uint8Array.from({ length: labels.length }, (_, i) => (labels[i] === c ? 1 : 0));
    return rocAuc(classScores(logits, classes, c), y);
  });
}

/**
 * One-vs-rest scores of class `c`: the log-softmax of its logit (a monotone function of the
 * class probability), the score both {@linkcode perClassAuc} and ROC plots use.
 *
 * @param logits (n, classes) row-major
 * @param classes classes
 * @param c the class
 * @returns n scores
 * @example
 * ```ts
 * import { classScores } from "@mpm/webgpu/eval";
 * const s = classScores([0, 0, 2, 0], 2, 0);
 * console.assert(Math.abs(s[0] - Math.log(0.5)) < 1e-12 && s[1] > Math.log(0.8));
 * ```
 */
export function classScores(logits: ArrayLike<number>, classes: number, c: number): Float64Array {
  const n = logits.length / classes, s = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let k = 0; k < classes; k++) m = Math.max(m, logits[i * classes + k]);
    let z = 0;
    for (let k = 0; k < classes; k++) z += Math.exp(logits[i * classes + k] - m);
    s[i] = logits[i * classes + c] - m - Math.log(z);
  }
  return s;
}

/**
 * Significance improvement SIC = TPR / sqrt(FPR) at the ROC point whose FPR is closest to
 * `targetFpr` (default 1 %, i.e. 99 % background rejection), as the reference's CWoLa study.
 *
 * @example
 * ```ts
 * import { sicAt } from "@mpm/webgpu/eval";
 * const r = sicAt({ fpr: [0, 0.01, 1], tpr: [0, 0.5, 1], thresholds: [Infinity, 0.5, 0] });
 * console.assert(Math.abs(r.sic - 5) < 1e-12);
 * ```
 */
export function sicAt(roc: Roc, targetFpr = 0.01): { sic: number; fpr: number; tpr: number } {
  let best = -1;
  for (let k = 0; k < roc.fpr.length; k++) {
    if (roc.fpr[k] <= 0) continue;
    if (best < 0 || Math.abs(roc.fpr[k] - targetFpr) < Math.abs(roc.fpr[best] - targetFpr)) {
      best = k;
    }
  }
  if (best < 0) return { sic: NaN, fpr: NaN, tpr: NaN };
  return { sic: roc.tpr[best] / Math.sqrt(roc.fpr[best]), fpr: roc.fpr[best], tpr: roc.tpr[best] };
}

/**
 * Background rejection 1/εB at signal efficiency `eff` (the top-tagging landscape's headline
 * numbers at εS = 0.3 and 0.5): the false-positive rate is interpolated linearly in the true-positive
 * rate between the ROC points around `eff`. Infinite when no background passes.
 *
 * @param roc a ROC curve ({@linkcode rocCurve})
 * @param eff signal efficiency in (0, 1]
 * @returns 1 / εB
 * @example
 * ```ts
 * import { rejectionAt, rocCurve } from "@mpm/webgpu/eval";
 * const roc = rocCurve([0.9, 0.8, 0.7, 0.3, 0.2, 0.1], [1, 1, 0, 1, 0, 0]);
 * console.assert(rejectionAt(roc, 0.5) === Infinity && Math.abs(rejectionAt(roc, 1) - 3) < 1e-12);
 * ```
 */
export function rejectionAt(roc: Roc, eff: number): number {
  for (let k = 1; k < roc.tpr.length; k++) {
    if (roc.tpr[k] >= eff) {
      const t0 = roc.tpr[k - 1], t1 = roc.tpr[k], f0 = roc.fpr[k - 1], f1 = roc.fpr[k];
      const fpr = t1 > t0 ? f0 + ((eff - t0) / (t1 - t0)) * (f1 - f0) : f1;
      return 1 / fpr;
    }
  }
  return NaN;
}

/** Bell numbers B_0..B_15 (partitions of a set), as hard-coded by the reference. */
export const BELL: readonly number[] = [
  1,
  1,
  2,
  5,
  15,
  52,
  203,
  877,
  4140,
  21147,
  115975,
  678570,
  4213597,
  27644437,
  190899322,
  1382958545,
];

/**
 * The reference's per-jet "ARI" of predicted pairwise edges: RI = fraction of the n(n-1)/2 pairs
 * predicted correctly (edge iff same vertex), chance-corrected with p = B_{n-1} / B_n (the
 * probability that two elements share a block of a uniformly random partition) and the true
 * number of same-vertex pairs g: E = p g/N + (1 - p)(1 - g/N), ARI = (RI - E) / (1 - E).
 * `pred` and the truth are indexed by pair (i < j) in row-major order. NaN for n < 2.
 *
 * @example
 * ```ts
 * import { referenceAri } from "@mpm/webgpu/eval";
 * // 3 tracks, truth {0,1},{2}: pairs (0,1)=1, (0,2)=0, (1,2)=0; a perfect prediction gives 1.
 * console.assert(referenceAri([true, false, false], [0, 0, 1]) === 1);
 * ```
 */
export function referenceAri(pred: ArrayLike<boolean | number>, vtx: ArrayLike<number>): number {
  const n = vtx.length;
  if (n < 2) return NaN;
  const N = (n * (n - 1)) / 2;
  let correct = 0, g = 0, k = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++, k++) {
      const same = vtx[i] === vtx[j];
      if (same) g++;
      if (!!pred[k] === same) correct++;
    }
  }
  const p = BELL[n - 1] / BELL[n];
  const RI = correct / N, E = p * (g / N) + (1 - p) * (1 - g / N);
  return (RI - E) / (1 - E);
}

/**
 * Partition of n items from predicted edges (pairs i < j, row-major): connected components,
 * labelled 0, 1, ... in order of their first item.
 *
 * @example
 * ```ts
 * import { componentsFromEdges } from "@mpm/webgpu/eval";
 * console.assert(componentsFromEdges(3, [false, false, true]).join() === "0,1,1");
 * ```
 */
export function componentsFromEdges(n: number, edges: ArrayLike<boolean | number>): number[] {
  const parent = Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
  let k = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++, k++) {
      if (edges[k]) parent[find(j)] = find(i);
    }
  }
  const label = new Map<number, number>();
  return Array.from({ length: n }, (_, i) => {
    const r = find(i);
    if (!label.has(r)) label.set(r, label.size);
    return label.get(r)!;
  });
}

const comb2 = (x: number) => (x * (x - 1)) / 2;

/**
 * The standard (Hubert–Arabie) adjusted Rand index of two partitions (as scikit-learn's
 * `adjusted_rand_score`): 1 for identical partitions, ~0 for chance; 1 when both are the
 * trivial partition of a set.
 *
 * @example
 * ```ts
 * import { adjustedRandIndex } from "@mpm/webgpu/eval";
 * console.assert(adjustedRandIndex([0, 0, 1, 1], [1, 1, 0, 0]) === 1);
 * ```
 */
export function adjustedRandIndex(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  const table = new Map<string, number>(),
    ra = new Map<number, number>(),
    rb = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const key = `${a[i]},${b[i]}`;
    table.set(key, (table.get(key) ?? 0) + 1);
    ra.set(a[i], (ra.get(a[i]) ?? 0) + 1);
    rb.set(b[i], (rb.get(b[i]) ?? 0) + 1);
  }
  let index = 0, sa = 0, sb = 0;
  for (const v of table.values()) index += comb2(v);
  for (const v of ra.values()) sa += comb2(v);
  for (const v of rb.values()) sb += comb2(v);
  const total = comb2(n), expected = total ? (sa * sb) / total : 0, max = (sa + sb) / 2;
  if (max === expected) return 1; // both partitions trivial (all singletons or one block)
  return (index - expected) / (max - expected);
}

/**
 * Balanced accuracy: the mean over classes present in `labels` of the per-class recall (as
 * scikit-learn's `balanced_accuracy_score`).
 *
 * @example
 * ```ts
 * import { balancedAccuracy } from "@mpm/webgpu/eval";
 * console.assert(balancedAccuracy([0, 0, 0, 1], [0, 0, 0, 0]) === 0.75);
 * ```
 */
export function balancedAccuracy(pred: ArrayLike<number>, labels: ArrayLike<number>): number {
  const hit = new Map<number, number>(), tot = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) {
    tot.set(labels[i], (tot.get(labels[i]) ?? 0) + 1);
    if (pred[i] === labels[i]) hit.set(labels[i], (hit.get(labels[i]) ?? 0) + 1);
  }
  let s = 0;
  for (const [c, t] of tot) s += (hit.get(c) ?? 0) / t;
  return tot.size ? s / tot.size : NaN;
}
