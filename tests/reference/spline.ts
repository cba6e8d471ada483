// Float64 reference for shaders/spline.wgsl: monotone rational-quadratic splines with identity
// tails, written from the closed forms (bisection for the inverse, so it shares no algebra with
// the kernel's quadratic solve).

/** Knot layout per element: [xk(0..K) | yk(0..K) | dk(0..K)]. */
function knotsOf(knots: ArrayLike<number>, i: number, K: number) {
  const o = i * 3 * (K + 1);
  const at = (j: number) => knots[o + j];
  return {
    x: (j: number) => at(j),
    y: (j: number) => at(K + 1 + j),
    d: (j: number) => at(2 * (K + 1) + j),
  };
}

/** y = spline(x) and log|dy/dx| for one element. */
export function splineOne(
  v: number,
  knots: ArrayLike<number>,
  i: number,
  K: number,
): [number, number] {
  const k = knotsOf(knots, i, K);
  if (v <= k.x(0) || v >= k.x(K)) return [v, 0];
  let b = 0;
  while (b < K - 1 && v >= k.x(b + 1)) b++;
  const w = k.x(b + 1) - k.x(b), h = k.y(b + 1) - k.y(b), s = h / w;
  const d0 = k.d(b), d1 = k.d(b + 1), t = (v - k.x(b)) / w;
  const den = s + (d0 + d1 - 2 * s) * t * (1 - t);
  const y = k.y(b) + (h * (s * t * t + d0 * t * (1 - t))) / den;
  const dydx = (s * s * (d1 * t * t + 2 * s * t * (1 - t) + d0 * (1 - t) * (1 - t))) / (den * den);
  return [y, Math.log(dydx)];
}

/** Forward over all elements. */
export function splineRef(x: ArrayLike<number>, knots: ArrayLike<number>, K: number) {
  const y = new Float64Array(x.length), logdet = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) [y[i], logdet[i]] = splineOne(x[i], knots, i, K);
  return { y, logdet };
}

/** Inverse by bisection on the monotone forward; logdet is log|dx/dy|. */
export function splineInverseRef(y: ArrayLike<number>, knots: ArrayLike<number>, K: number) {
  const x = new Float64Array(y.length), logdet = new Float64Array(y.length);
  for (let i = 0; i < y.length; i++) {
    const k = knotsOf(knots, i, K);
    if (y[i] <= k.y(0) || y[i] >= k.y(K)) {
      x[i] = y[i];
      continue;
    }
    let lo = k.x(0), hi = k.x(K);
    for (let it = 0; it < 200; it++) {
      const mid = 0.5 * (lo + hi);
      if (splineOne(mid, knots, i, K)[0] < y[i]) lo = mid;
      else hi = mid;
    }
    x[i] = 0.5 * (lo + hi);
    logdet[i] = -splineOne(x[i], knots, i, K)[1];
  }
  return { x, logdet };
}

/**
 * Valid random knots for n elements and K bins on [-B, B]: positive random widths and heights,
 * positive interior derivatives, derivative 1 at both ends (continuous linear tails).
 */
export function randomKnots(n: number, K: number, B: number, rand: () => number): Float64Array {
  const out = new Float64Array(n * 3 * (K + 1));
  for (let i = 0; i < n; i++) {
    const o = i * 3 * (K + 1);
    for (const part of [0, 1]) {
      const w = Array.from({ length: K }, () => 0.2 + rand());
      const total = w.reduce((a, c) => a + c, 0);
      let acc = -B;
      out[o + part * (K + 1)] = -B;
      for (let j = 0; j < K; j++) {
        acc += (2 * B * w[j]) / total;
        out[o + part * (K + 1) + j + 1] = j === K - 1 ? B : acc;
      }
    }
    for (let j = 0; j <= K; j++) {
      out[o + 2 * (K + 1) + j] = j === 0 || j === K ? 1 : 0.3 + 2 * rand();
    }
  }
  return out;
}

/** Float64 knots from unconstrained parameters raw (n, 3K - 1), as shaders/spline_knots.wgsl. */
export function splineKnotsRef(
  raw: ArrayLike<number>,
  K: number,
  B: number,
  minW = 1e-3,
  minH = 1e-3,
  minD = 1e-3,
): Float64Array {
  const n = raw.length / (3 * K - 1), out = new Float64Array(n * 3 * (K + 1));
  const c0 = Math.log(Math.expm1(1 - minD));
  for (let i = 0; i < n; i++) {
    const r = (j: number) => raw[i * (3 * K - 1) + j], o = i * 3 * (K + 1);
    for (const [part, mn] of [[0, minW], [1, minH]]) {
      const e = Array.from({ length: K }, (_, j) => Math.exp(r(part * K + j)));
      const z = e.reduce((a, c) => a + c, 0);
      out[o + part * (K + 1)] = -B;
      let acc = -B;
      for (let j = 0; j < K; j++) {
        acc += 2 * B * (mn + (1 - mn * K) * e[j] / z);
        out[o + part * (K + 1) + j + 1] = j === K - 1 ? B : acc;
      }
    }
    out[o + 2 * (K + 1)] = 1;
    out[o + 3 * (K + 1) - 1] = 1;
    for (let j = 1; j < K; j++) {
      out[o + 2 * (K + 1) + j] = minD + Math.log1p(Math.exp(r(2 * K + j - 1) + c0));
    }
  }
  return out;
}
