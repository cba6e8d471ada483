// Float64 reference of torch.optim.AdamW with global-norm clipping (clip_grad_norm_ semantics).
export function adamwRef(
  p: Float64Array,
  g: ArrayLike<number>,
  m: Float64Array,
  v: Float64Array,
  o: {
    lr: number;
    beta1: number;
    beta2: number;
    eps: number;
    wd: number;
    step: number;
    maxNorm: number;
    sumsq: number;
  },
): void {
  const clip = o.maxNorm > 0 ? Math.min(1, o.maxNorm / (Math.sqrt(o.sumsq) + 1e-6)) : 1;
  const bc1 = 1 - o.beta1 ** o.step, bc2 = 1 - o.beta2 ** o.step;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] * clip;
    p[i] -= o.lr * o.wd * p[i];
    m[i] = o.beta1 * m[i] + (1 - o.beta1) * gi;
    v[i] = o.beta2 * v[i] + (1 - o.beta2) * gi * gi;
    p[i] -= o.lr * (m[i] / bc1) / (Math.sqrt(v[i] / bc2) + o.eps);
  }
}
