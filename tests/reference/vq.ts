// Float64 reference of the cosine-codebook EMA update with dead-code replacement
// (shaders/vq_ema.wgsl), written from the definition, loops over codes and vectors.

/** The 32-bit integer hash the kernel uses to pick a replacement vector. */
export function mixRef(v: number): number {
  let h = v >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h = (h ^ (h >>> 15)) >>> 0;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** New (size, avg, codebook) after one EMA step. */
export function vqEmaRef(
  z: ArrayLike<number>,
  assign: ArrayLike<number>,
  size: ArrayLike<number>,
  avg: ArrayLike<number>,
  dim: number,
  o: { decay: number; threshold: number; seed: number },
): { size: Float64Array; avg: Float64Array; codebook: Float64Array } {
  const n = assign.length, k = size.length;
  const unit = (i: number) => {
    const v = Array.from({ length: dim }, (_, d) => z[i * dim + d]);
    const norm = Math.max(Math.hypot(...v), 1e-12);
    return v.map((x) => x / norm);
  };
  const outSize = new Float64Array(k), outAvg = new Float64Array(k * dim);
  const code = new Float64Array(k * dim);
  for (let c = 0; c < k; c++) {
    let count = 0;
    const sum = new Float64Array(dim);
    for (let i = 0; i < n; i++) {
      if (assign[i] !== c) continue;
      count++;
      unit(i).forEach((v, d) => (sum[d] += v));
    }
    let cs = o.decay * size[c] + (1 - o.decay) * count;
    let a = Array.from(
      { length: dim },
      (_, d) => o.decay * avg[c * dim + d] + (1 - o.decay) * sum[d],
    );
    if (cs < o.threshold && n > 0) {
      const pick = mixRef((Math.imul(c, 0x9e3779b9) + mixRef(o.seed)) >>> 0) % n;
      a = unit(pick).map((v) => v * o.threshold);
      cs = o.threshold;
    }
    outSize[c] = cs;
    const norm = Math.max(Math.hypot(...a), 1e-12);
    a.forEach((v, d) => {
      outAvg[c * dim + d] = v;
      code[c * dim + d] = v / norm;
    });
  }
  return { size: outSize, avg: outAvg, codebook: code };
}
