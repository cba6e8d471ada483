// Metrics against hand-computed cases and edge cases.
import {
  accuracy,
  adjustedRandIndex,
  balancedAccuracy,
  componentsFromEdges,
  perClassAuc,
  referenceAri,
  rejectionAt,
  rocAuc,
  rocCurve,
  sicAt,
} from "../../src/eval/metrics.ts";
import { assertClose } from "../_helpers/mod.ts";

Deno.test("accuracy and per-class AUC", () => {
  // Row argmaxes 0, 1, 2 against labels 0, 1, 0.
  assertClose([accuracy([2, 1, 0, 0, 3, 1, 1, 1, 5], [0, 1, 0], 3)], [2 / 3]);
  // Class-0 scores (log-softmax): positives rows 0, 2 (-0.05, -0.69), negatives rows 1, 3
  // (-3.05, -0.69): 3 pairs ordered + 1 tie (1/2) -> 3.5 / 4; class 1 is symmetric.
  const auc = perClassAuc([3, 0, 0, 3, 1, 1, 2, 2], [0, 1, 0, 1], 2);
  assertClose(auc, [0.875, 0.875]);
});

Deno.test("ROC AUC: the Mann-Whitney probability, ties count one half", () => {
  assertClose([rocAuc([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0])], [0.75]); // 3 of 4 (sig, bkg) pairs ordered
  assertClose([rocAuc([0.5, 0.5], [1, 0])], [0.5]);
  assertClose([rocAuc([1, 2, 3], [1, 1, 0])], [0]);
  const r = rocCurve([0.9, 0.8, 0.8, 0.1], [1, 1, 0, 0]);
  assertClose(r.fpr, [0, 0, 0.5, 1]);
  assertClose(r.tpr, [0, 0.5, 1, 1]);
});

Deno.test("SIC = TPR / sqrt(FPR) at the ROC point with FPR closest to 1 %", () => {
  // 200 background jets with distinct scores in [0, 1); 10 signal jets, 5 above every background
  // and 5 at the bottom. Calling the top 2 backgrounds signal gives FPR 2/200 = 1 %, TPR 5/10.
  const scores: number[] = [], labels: number[] = [];
  for (let i = 0; i < 200; i++) (scores.push(i / 200), labels.push(0));
  for (let i = 0; i < 5; i++) {
    (scores.push(2 + i), labels.push(1), scores.push(-1 - i), labels.push(1));
  }
  const r = sicAt(rocCurve(scores, labels));
  assertClose([r.fpr, r.tpr, r.sic], [0.01, 0.5, 5], { atol: 1e-12 });
  if (!Number.isNaN(sicAt(rocCurve([1, 2], [1, 1])).sic)) {
    throw new Error("no background: SIC undefined");
  }
});

Deno.test("background rejection at a signal efficiency interpolates the ROC linearly in TPR", () => {
  // ROC (0,0), (0,0.5), (0.5,1), (1,1): at TPR 0.75 the FPR is halfway along the tied segment.
  const roc = rocCurve([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0]);
  assertClose([rejectionAt(roc, 0.75), rejectionAt(roc, 1)], [4, 2]);
  if (rejectionAt(roc, 0.5) !== Infinity) throw new Error("no background passes at 50 %: want inf");
  if (!Number.isNaN(rejectionAt(rocCurve([1, 2], [0, 0]), 0.5))) {
    throw new Error("no signal: rejection undefined");
  }
  // Brute force on a random sample: the rejection is between those of the ROC points around 30 %.
  let s = 7;
  const u = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const labels = Array.from({ length: 500 }, () => (u() < 0.4 ? 1 : 0));
  const scores = labels.map((l) => u() + 0.4 * l);
  const r = rocCurve(scores, labels), k = r.tpr.findIndex((t) => t >= 0.3);
  const got = 1 / rejectionAt(r, 0.3);
  if (!(got >= r.fpr[k - 1] - 1e-15 && got <= r.fpr[k] + 1e-15)) {
    throw new Error(`FPR ${got} outside [${r.fpr[k - 1]}, ${r.fpr[k]}]`);
  }
});

Deno.test("reference ARI (Bell-number chance correction) on hand-computed jets and edge cases", () => {
  // Truth {0,1},{2}; predicted edges (0,1)=1, (0,2)=1, (1,2)=0: 2 of 3 pairs right, RI = 2/3;
  // p = B2/B3 = 2/5, g/N = 1/3, E = 0.4/3 + 0.6 * 2/3 = 8/15, ARI = (2/3 - 8/15)/(7/15) = 2/7.
  assertClose([referenceAri([true, true, false], [0, 0, 1])], [2 / 7], { atol: 1e-12 });
  assertClose([referenceAri([1, 1, 1], [4, 4, 4])], [1]); // all tracks in one vertex, found
  assertClose([referenceAri([0, 0, 0, 0, 0, 0], [0, 1, 2, 3])], [1]); // all separate, found
  if (!Number.isNaN(referenceAri([], [7]))) throw new Error("one track: undefined");
});

Deno.test("standard ARI of connected components: scikit-learn's documented examples and edge cases", () => {
  assertClose([adjustedRandIndex([0, 0, 1, 1], [0, 0, 1, 2])], [4 / 7], { atol: 1e-12 }); // 0.5714...
  assertClose([adjustedRandIndex([0, 0, 1, 1], [1, 1, 0, 0])], [1]);
  assertClose([adjustedRandIndex([0, 0, 0, 0], [0, 1, 2, 3])], [0]);
  assertClose([adjustedRandIndex([5], [9])], [1]); // one track
  assertClose([adjustedRandIndex([1, 1, 1], [2, 2, 2])], [1]); // all in one vertex
  // Edges (0,1) and (1,2) connect {0,1,2}; 3 stays alone (pairs row-major over 4 tracks).
  const comp = componentsFromEdges(4, [1, 0, 0, 1, 0, 0]);
  if (comp.join() !== "0,0,0,1") throw new Error(`components ${comp}`);
});

Deno.test("balanced accuracy: an imbalanced confusion matrix, and a predicted class absent from the truth", () => {
  // Recalls: class 0 5/6, class 1 1/2, class 2 1/2 -> mean 11/18.
  assertClose([balancedAccuracy([0, 0, 0, 0, 0, 1, 1, 0, 2, 0], [0, 0, 0, 0, 0, 0, 1, 1, 2, 2])], [
    11 / 18,
  ], { atol: 1e-12 });
  assertClose([balancedAccuracy([3, 0], [0, 0])], [0.5]); // class 3 never true: not averaged
});
