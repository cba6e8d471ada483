// Float64 reference for shaders/modulate.wgsl (adaLN modulation and gated residuals).

/** y = x * (1 + scale[b]) + shift[b]; x (B, N, D), scale/shift (B, D). */
export function modulateRef(
  x: ArrayLike<number>,
  scale: ArrayLike<number>,
  shift: ArrayLike<number>,
  B: number,
  N: number,
  D: number,
): Float64Array {
  const y = new Float64Array(B * N * D);
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      for (let d = 0; d < D; d++) {
        const i = (b * N + n) * D + d;
        y[i] = x[i] * (1 + scale[b * D + d]) + shift[b * D + d];
      }
    }
  }
  return y;
}

/** y = res + gate[b] * x. */
export function gatedResidualRef(
  res: ArrayLike<number>,
  x: ArrayLike<number>,
  gate: ArrayLike<number>,
  B: number,
  N: number,
  D: number,
): Float64Array {
  const y = new Float64Array(B * N * D);
  for (let i = 0; i < y.length; i++) {
    const b = Math.floor(i / (N * D)), d = i % D;
    y[i] = res[i] + gate[b * D + d] * x[i];
  }
  return y;
}
