// Philox4x32-10 reference with BigInt arithmetic (independent of the WGSL 16-bit split).
const M0 = 0xD2511F53n, M1 = 0xCD9E8D57n, W0 = 0x9E3779B9n, W1 = 0xBB67AE85n, MASK = 0xffffffffn;

export function philoxRef(ctr: [number, number, number, number], key: [number, number]): number[] {
  let [c0, c1, c2, c3] = ctr.map(BigInt);
  let [k0, k1] = key.map(BigInt);
  for (let r = 0; r < 10; r++) {
    const p0 = M0 * c0, p1 = M1 * c2;
    const hi0 = p0 >> 32n, lo0 = p0 & MASK, hi1 = p1 >> 32n, lo1 = p1 & MASK;
    [c0, c1, c2, c3] = [hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0];
    k0 = (k0 + W0) & MASK;
    k1 = (k1 + W1) & MASK;
  }
  return [c0, c1, c2, c3].map(Number);
}

const unit = (x: number) => Math.floor(x / 256) * 2 ** -24 + 2 ** -25;

export function uniformRef(
  n: number,
  seed: number,
  stream: number,
  offset: number,
  rows?: { length: number; stride: number },
): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = offset +
      (rows ? Math.floor(i / rows.length) * rows.stride + (i % rows.length) : i);
    const r = philoxRef([o % 2 ** 32, Math.floor(o / 2 ** 32), stream, 0], [
      seed % 2 ** 32,
      Math.floor(seed / 2 ** 32),
    ]);
    out[i] = unit(r[0]);
  }
  return out;
}

export function normalRef(n: number, seed: number, stream: number, offset: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = offset + i;
    const r = philoxRef([o % 2 ** 32, Math.floor(o / 2 ** 32), stream, 0], [
      seed % 2 ** 32,
      Math.floor(seed / 2 ** 32),
    ]);
    out[i] = Math.sqrt(-2 * Math.log(unit(r[0]))) * Math.cos(2 * Math.PI * unit(r[1]));
  }
  return out;
}
