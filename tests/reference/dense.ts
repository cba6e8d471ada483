// Float64 references: matmul, elementwise/broadcast ops, activations, LayerNorm.
// Written from the maths, independently of the WGSL.

export type F = Float64Array;

/** C = alpha * op(A) op(B) + bias, batched; shapes as in the GPU kernel. */
export function matmulRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  s: {
    batch: number;
    m: number;
    n: number;
    k: number;
    transA?: boolean;
    transB?: boolean;
    bBatched?: boolean;
    bias?: ArrayLike<number>;
    alpha?: number;
  },
): F {
  const { batch, m, n, k } = s;
  const c = new Float64Array(batch * m * n);
  for (let z = 0; z < batch; z++) {
    const ao = z * m * k, bo = s.bBatched === false ? 0 : z * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let t = 0; t < k; t++) {
          const av = s.transA ? a[ao + t * m + i] : a[ao + i * k + t];
          const bv = s.transB ? b[bo + j * k + t] : b[bo + t * n + j];
          acc += av * bv;
        }
        c[z * m * n + i * n + j] = (s.alpha ?? 1) * acc + (s.bias ? s.bias[j] : 0);
      }
    }
  }
  return c;
}

/** Gradients of C = A B + bias (no transposes, 2-D) given dC. */
export function matmulBackwardRef(
  a: F,
  b: F,
  dc: F,
  m: number,
  n: number,
  k: number,
): { da: F; db: F; dbias: F } {
  const da = new Float64Array(m * k), db = new Float64Array(k * n), dbias = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const g = dc[i * n + j];
      dbias[j] += g;
      for (let t = 0; t < k; t++) {
        da[i * k + t] += g * b[t * n + j];
        db[t * n + j] += g * a[i * k + t];
      }
    }
  }
  return { da, db, dbias };
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
export const siluRef = (x: number): number => x * sigmoid(x);
export const siluGradRef = (x: number): number => sigmoid(x) * (1 + x * (1 - sigmoid(x)));

/** erf to ~1e-15: Maclaurin series below 2.5, continued fraction for erfc above. */
export function erfRef(x: number): number {
  const ax = Math.abs(x);
  let r: number;
  if (ax < 2.5) {
    let term = ax, sum = ax;
    for (let n = 1; n < 100; n++) {
      term *= -ax * ax / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    let K = ax;
    for (let n = 60; n >= 1; n--) K = ax + (n / 2) / K;
    r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / K;
  }
  return x < 0 ? -r : r;
}

export const geluRef = (x: number): number => 0.5 * x * (1 + erfRef(x / Math.SQRT2));
export const geluGradRef = (x: number): number =>
  0.5 * (1 + erfRef(x / Math.SQRT2)) + x * Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);

/** SwiGLU over rows of 2H: silu(a) * b. */
export function swigluRef(x: ArrayLike<number>, rows: number, h: number): F {
  const out = new Float64Array(rows * h);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < h; j++) out[r * h + j] = siluRef(x[r * 2 * h + j]) * x[r * 2 * h + h + j];
  }
  return out;
}

export function swigluBackwardRef(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  rows: number,
  h: number,
): F {
  const dx = new Float64Array(rows * 2 * h);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < h; j++) {
      const a = x[r * 2 * h + j], b = x[r * 2 * h + h + j], g = dy[r * h + j];
      dx[r * 2 * h + j] = g * b * siluGradRef(a);
      dx[r * 2 * h + h + j] = g * siluRef(a);
    }
  }
  return dx;
}

/** LayerNorm over rows of `cols`. */
export function layerNormRef(
  x: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  rows: number,
  cols: number,
  eps = 1e-5,
): { y: F; mean: F; rstd: F } {
  const y = new Float64Array(rows * cols),
    mean = new Float64Array(rows),
    rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let mu = 0;
    for (let c = 0; c < cols; c++) mu += x[r * cols + c];
    mu /= cols;
    let v = 0;
    for (let c = 0; c < cols; c++) v += (x[r * cols + c] - mu) ** 2;
    const rs = 1 / Math.sqrt(v / cols + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (let c = 0; c < cols; c++) {
      y[r * cols + c] = (x[r * cols + c] - mu) * rs * gamma[c] + beta[c];
    }
  }
  return { y, mean, rstd };
}

export function layerNormBackwardRef(
  x: ArrayLike<number>,
  gamma: ArrayLike<number>,
  dy: ArrayLike<number>,
  rows: number,
  cols: number,
  eps = 1e-5,
): { dx: F; dgamma: F; dbeta: F } {
  const { mean, rstd } = layerNormRef(x, gamma, new Float64Array(cols), rows, cols, eps);
  const dx = new Float64Array(rows * cols),
    dgamma = new Float64Array(cols),
    dbeta = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    let sg = 0, sgx = 0;
    for (let c = 0; c < cols; c++) {
      const xh = (x[r * cols + c] - mean[r]) * rstd[r];
      const g = dy[r * cols + c] * gamma[c];
      sg += g;
      sgx += g * xh;
      dgamma[c] += dy[r * cols + c] * xh;
      dbeta[c] += dy[r * cols + c];
    }
    for (let c = 0; c < cols; c++) {
      const xh = (x[r * cols + c] - mean[r]) * rstd[r];
      dx[r * cols + c] = rstd[r] * (dy[r * cols + c] * gamma[c] - sg / cols - xh * sgx / cols);
    }
  }
  return { dx, dgamma, dbeta };
}
