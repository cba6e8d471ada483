// Float64 reference of masked multi-head attention (explicit softmax matrix), forward and
// backward. Inputs are dense: q (B, Nq, H*D), k and v (B, Nk, H*D), valid (B, Nk).

export interface AttnShape {
  batch: number;
  nq: number;
  nk: number;
  heads: number;
  headDim: number;
  scale?: number;
}

type A = ArrayLike<number>;

function probs(
  q: A,
  k: A,
  valid: A | null,
  s: AttnShape,
  b: number,
  h: number,
  i: number,
): Float64Array {
  const d = s.heads * s.headDim, sc = s.scale ?? 1 / Math.sqrt(s.headDim);
  const p = new Float64Array(s.nk);
  let mx = -Infinity;
  for (let j = 0; j < s.nk; j++) {
    if (valid && !valid[b * s.nk + j]) {
      p[j] = -Infinity;
      continue;
    }
    let dotv = 0;
    for (let t = 0; t < s.headDim; t++) {
      dotv += q[(b * s.nq + i) * d + h * s.headDim + t] * k[(b * s.nk + j) * d + h * s.headDim + t];
    }
    p[j] = dotv * sc;
    mx = Math.max(mx, p[j]);
  }
  if (mx === -Infinity) return p.fill(0); // fully masked row: no weights
  let z = 0;
  for (let j = 0; j < s.nk; j++) z += p[j] = Math.exp(p[j] - mx);
  for (let j = 0; j < s.nk; j++) p[j] /= z;
  return p;
}

export function attentionRef(q: A, k: A, v: A, valid: A | null, s: AttnShape): Float64Array {
  const d = s.heads * s.headDim;
  const out = new Float64Array(s.batch * s.nq * d);
  for (let b = 0; b < s.batch; b++) {
    for (let h = 0; h < s.heads; h++) {
      for (let i = 0; i < s.nq; i++) {
        const p = probs(q, k, valid, s, b, h, i);
        for (let j = 0; j < s.nk; j++) {
          for (let t = 0; t < s.headDim; t++) {
            out[(b * s.nq + i) * d + h * s.headDim + t] += p[j] *
              v[(b * s.nk + j) * d + h * s.headDim + t];
          }
        }
      }
    }
  }
  return out;
}

export function attentionBackwardRef(
  q: A,
  k: A,
  v: A,
  valid: A | null,
  dout: A,
  s: AttnShape,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const d = s.heads * s.headDim, sc = s.scale ?? 1 / Math.sqrt(s.headDim), D = s.headDim;
  const dq = new Float64Array(s.batch * s.nq * d);
  const dk = new Float64Array(s.batch * s.nk * d);
  const dv = new Float64Array(s.batch * s.nk * d);
  for (let b = 0; b < s.batch; b++) {
    for (let h = 0; h < s.heads; h++) {
      for (let i = 0; i < s.nq; i++) {
        const p = probs(q, k, valid, s, b, h, i);
        const qi = (b * s.nq + i) * d + h * D;
        const dp = new Float64Array(s.nk);
        let rowsum = 0;
        for (let j = 0; j < s.nk; j++) {
          const kj = (b * s.nk + j) * d + h * D;
          for (let t = 0; t < D; t++) dp[j] += dout[qi + t] * v[kj + t];
          rowsum += p[j] * dp[j];
        }
        for (let j = 0; j < s.nk; j++) {
          const kj = (b * s.nk + j) * d + h * D;
          const ds = p[j] * (dp[j] - rowsum) * sc;
          for (let t = 0; t < D; t++) {
            dq[qi + t] += ds * k[kj + t];
            dk[kj + t] += ds * q[qi + t];
            dv[kj + t] += p[j] * dout[qi + t];
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}
