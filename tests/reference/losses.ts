// Float64 references of the losses (PyTorch semantics), forward (mean) and gradient.
type A = ArrayLike<number>;

/** cross_entropy(logits, target, weight=cw, label_smoothing=eps), mean over used rows. */
export function crossEntropyRef(
  logits: A,
  target: A,
  rows: number,
  V: number,
  o: { eps?: number; cw?: A; valid?: A } = {},
): { loss: number; grad: Float64Array } {
  const eps = o.eps ?? 0, w = (c: number) => (o.cw ? o.cw[c] : 1);
  let num = 0, den = 0;
  const grad = new Float64Array(rows * V);
  const used: boolean[] = [];
  const logp: Float64Array[] = [];
  for (let r = 0; r < rows; r++) {
    const y = target[r];
    used[r] = (!o.valid || !!o.valid[r]) && y >= 0 && y < V;
    let mx = -Infinity;
    for (let c = 0; c < V; c++) mx = Math.max(mx, logits[r * V + c]);
    let z = 0;
    for (let c = 0; c < V; c++) z += Math.exp(logits[r * V + c] - mx);
    const lp = new Float64Array(V);
    for (let c = 0; c < V; c++) lp[c] = logits[r * V + c] - mx - Math.log(z);
    logp[r] = lp;
    if (!used[r]) continue;
    let smooth = 0;
    for (let c = 0; c < V; c++) smooth -= w(c) * lp[c];
    num += (1 - eps) * w(y) * -lp[y] + (eps / V) * smooth;
    den += w(y);
  }
  for (let r = 0; r < rows; r++) {
    if (!used[r] || den === 0) continue;
    const y = target[r];
    let Q = 0;
    const q = new Float64Array(V);
    for (let c = 0; c < V; c++) Q += q[c] = (eps / V) * w(c) + (c === y ? (1 - eps) * w(y) : 0);
    for (let c = 0; c < V; c++) grad[r * V + c] = (Math.exp(logp[r][c]) * Q - q[c]) / den;
  }
  return { loss: den === 0 ? 0 : num / den, grad };
}

const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const sig = (x: number) => 1 / (1 + Math.exp(-x));

/** Loss of one entry (before positive weighting). */
export function pointLoss(
  kind: string,
  x: number,
  t: number,
  o: { delta?: number; gamma?: number; alpha?: number },
): number {
  const d = x - t;
  switch (kind) {
    case "l1":
      return Math.abs(d);
    case "mse":
      return d * d;
    case "huber": {
      const dl = o.delta ?? 1;
      return Math.abs(d) <= dl ? 0.5 * d * d : dl * (Math.abs(d) - 0.5 * dl);
    }
    case "bce":
      return softplus(x) - x * t;
    default: {
      const p = sig(x), ce = softplus(x) - x * t, pt = p * t + (1 - p) * (1 - t);
      let l = ce * (1 - pt) ** (o.gamma ?? 2);
      const al = o.alpha ?? -1;
      if (al >= 0) l *= al * t + (1 - al) * (1 - t);
      return l;
    }
  }
}

/** Mean pointwise loss over valid entries (valid per row or per entry). */
export function pointwiseLossRef(
  kind: string,
  pred: A,
  target: A,
  rows: number,
  cols: number,
  o: { valid?: A; delta?: number; gamma?: number; alpha?: number; posWeight?: number } = {},
): number {
  let s = 0, n = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const ok = !o.valid || (o.valid.length === rows ? o.valid[r] : o.valid[i]);
      if (!ok) continue;
      s += pointLoss(kind, pred[i], target[i], o) * (1 + ((o.posWeight ?? 1) - 1) * target[i]);
      n++;
    }
  }
  return n ? s / n : 0;
}
