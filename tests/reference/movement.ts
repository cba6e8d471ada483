// Float64 / integer references of the data-movement ops.
type A = ArrayLike<number>;

export function embeddingRef(table: A, ids: A, cols: number, vocab: number): Float64Array {
  const out = new Float64Array(ids.length * cols);
  for (let r = 0; r < ids.length; r++) {
    if (ids[r] < 0 || ids[r] >= vocab) continue;
    for (let c = 0; c < cols; c++) out[r * cols + c] = table[ids[r] * cols + c];
  }
  return out;
}

export function embeddingBackwardRef(dout: A, ids: A, cols: number, vocab: number): Float64Array {
  const d = new Float64Array(vocab * cols);
  for (let r = 0; r < ids.length; r++) {
    if (ids[r] < 0 || ids[r] >= vocab) continue;
    for (let c = 0; c < cols; c++) d[ids[r] * cols + c] += dout[r * cols + c];
  }
  return d;
}

/** Exclusive prefix sums, compaction and inverse indices of a (B, N) mask. */
export function maskScanRef(mask: A, batch: number, n: number, nOut: number) {
  const rank = new Int32Array(batch * n).fill(-1), inv = new Int32Array(batch * n).fill(-1);
  const fwd = new Int32Array(batch * nOut).fill(-1), count = new Uint32Array(batch);
  for (let b = 0; b < batch; b++) {
    let c = 0;
    for (let j = 0; j < n; j++) {
      const e = b * n + j;
      if (!mask[e]) continue;
      rank[e] = c;
      if (c < nOut) {
        fwd[b * nOut + c] = e;
        inv[e] = b * nOut + c;
      }
      c++;
    }
    count[b] = c;
  }
  return { rank, fwd, inv, count };
}

export function maskedSumRef(
  x: A,
  mask: A,
  batch: number,
  n: number,
  cols: number,
  mean: boolean,
): Float64Array {
  const out = new Float64Array(batch * cols);
  for (let b = 0; b < batch; b++) {
    let cnt = 0;
    for (let j = 0; j < n; j++) {
      if (!mask[b * n + j]) continue;
      cnt++;
      for (let c = 0; c < cols; c++) out[b * cols + c] += x[(b * n + j) * cols + c];
    }
    if (mean) {
      for (let c = 0; c < cols; c++) {
        out[b * cols + c] = cnt ? out[b * cols + c] / cnt : 0;
      }
    }
  }
  return out;
}
