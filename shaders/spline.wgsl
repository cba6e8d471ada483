// Monotone rational-quadratic splines (Durkan et al. 2019, "Neural Spline Flows") with identity
// (linear) tails, element-wise with per-element knots: the transform of the CNF coupling layers.
//
// Knots per element, K bins: xk[0..K], yk[0..K] increasing, dk[0..K] > 0 (derivatives at the
// knots; 1 at the ends gives continuous linear tails). Outside [xk[0], xk[K]] the map is the
// identity with log|det| = 0. Inside bin b, with w = xk[b+1]-xk[b], h = yk[b+1]-yk[b],
// s = h/w, t = (x - xk[b]) / w:
//   y = yk[b] + h (s t^2 + d0 t (1-t)) / (s + (d0 + d1 - 2s) t (1-t))
//   log|dy/dx| = log(s^2 (d1 t^2 + 2 s t (1-t) + d0 (1-t)^2)) - 2 log(s + (d0 + d1 - 2s) t (1-t))
// The inverse solves the quadratic for t (the numerically stable root).
// The backward pass differentiates y and log|det| with forward-mode dual numbers along each of
// the seven inputs that matter (x and the bin's six knot values).
//
// Bindings (group 0):
//   0 p       uniform  P
//   1 x       read     array<f32>  (n) inputs (inverse: y)
//   2 knots   read     array<f32>  (n, 3 (K+1)) [xk | yk | dk]
//   3 gy      read     array<f32>  (n) upstream gradient of the output (backward)
//   4 gld     read     array<f32>  (n) upstream gradient of log|det| (backward)
//   5 out     rw       array<f32>  (n) forward: y; inverse: x; backward: dL/dx
//   6 logdet  rw       array<f32>  (n) forward: log|dy/dx|; inverse: log|dx/dy|
//   7 gknots  rw       array<f32>  (n, 3 (K+1)) backward: dL/dknots
// Grid: one invocation per element, 64 per workgroup, x/y folded.

struct P {
  n: u32,
  k: u32,   // bins
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> knots: array<f32>;
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@group(0) @binding(4) var<storage, read> gld: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> logdet: array<f32>;
@group(0) @binding(7) var<storage, read_write> gknots: array<f32>;

fn kx(i: u32, j: u32) -> f32 { return knots[i * 3u * (p.k + 1u) + j]; }
fn ky(i: u32, j: u32) -> f32 { return knots[i * 3u * (p.k + 1u) + p.k + 1u + j]; }
fn kd(i: u32, j: u32) -> f32 { return knots[i * 3u * (p.k + 1u) + 2u * (p.k + 1u) + j]; }

// Dual numbers: value and derivative along one input direction.
fn dmul(a: vec2f, b: vec2f) -> vec2f { return vec2f(a.x * b.x, a.x * b.y + a.y * b.x); }
fn ddiv(a: vec2f, b: vec2f) -> vec2f { return vec2f(a.x / b.x, (a.y * b.x - a.x * b.y) / (b.x * b.x)); }
fn dlog(a: vec2f) -> vec2f { return vec2f(log(a.x), a.y / a.x); }

// (y, log|det|) as duals, from duals of (x, x0, x1, y0, y1, d0, d1).
fn spline_dual(xv: vec2f, x0: vec2f, x1: vec2f, y0: vec2f, y1: vec2f, d0: vec2f, d1: vec2f) -> array<vec2f, 2> {
  let one = vec2f(1.0, 0.0);
  let w = x1 - x0;
  let h = y1 - y0;
  let s = ddiv(h, w);
  let t = ddiv(xv - x0, w);
  let omt = one - t;
  let tt = dmul(t, omt);
  let num = dmul(h, dmul(s, dmul(t, t)) + dmul(d0, tt));
  let den = s + dmul(d0 + d1 - 2.0 * s, tt);
  let y = y0 + ddiv(num, den);
  let dnum = dmul(dmul(s, s), dmul(d1, dmul(t, t)) + 2.0 * dmul(s, tt) + dmul(d0, dmul(omt, omt)));
  let ld = dlog(dnum) - 2.0 * dlog(den);
  return array<vec2f, 2>(y, ld);
}

fn find_bin(i: u32, v: f32, use_y: bool) -> u32 {
  var b = 0u;
  for (var j = 1u; j < p.k; j++) {
    let edge = select(kx(i, j), ky(i, j), use_y);
    if (v >= edge) { b = j; }
  }
  return b;
}

@compute @workgroup_size(FLAT_WG)
fn spline_fwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  let v = x[i];
  if (v <= kx(i, 0u) || v >= kx(i, p.k)) {
    out[i] = v;
    logdet[i] = 0.0;
    return;
  }
  let b = find_bin(i, v, false);
  let r = spline_dual(vec2f(v, 0.0), vec2f(kx(i, b), 0.0), vec2f(kx(i, b + 1u), 0.0), vec2f(ky(i, b), 0.0),
    vec2f(ky(i, b + 1u), 0.0), vec2f(kd(i, b), 0.0), vec2f(kd(i, b + 1u), 0.0));
  out[i] = r[0].x;
  logdet[i] = r[1].x;
}

@compute @workgroup_size(FLAT_WG)
fn spline_inv(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  let v = x[i];
  if (v <= ky(i, 0u) || v >= ky(i, p.k)) {
    out[i] = v;
    logdet[i] = 0.0;
    return;
  }
  let b = find_bin(i, v, true);
  let x0 = kx(i, b);
  let w = kx(i, b + 1u) - x0;
  let y0 = ky(i, b);
  let h = ky(i, b + 1u) - y0;
  let s = h / w;
  let d0 = kd(i, b);
  let d1 = kd(i, b + 1u);
  let dy = v - y0;
  let qa = h * (s - d0) + dy * (d0 + d1 - 2.0 * s);
  let qb = h * d0 - dy * (d0 + d1 - 2.0 * s);
  let qc = -s * dy;
  let disc = max(qb * qb - 4.0 * qa * qc, 0.0);
  let t = clamp((2.0 * qc) / (-qb - sqrt(disc)), 0.0, 1.0);
  let xv = x0 + t * w;
  out[i] = xv;
  let r = spline_dual(vec2f(xv, 0.0), vec2f(x0, 0.0), vec2f(x0 + w, 0.0), vec2f(y0, 0.0), vec2f(y0 + h, 0.0),
    vec2f(d0, 0.0), vec2f(d1, 0.0));
  logdet[i] = -r[1].x;
}

// Gradients of L = sum(gy * y + gld * log|det|) with respect to x and the knots.
@compute @workgroup_size(FLAT_WG)
fn spline_bwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  let stride = 3u * (p.k + 1u);
  for (var j = 0u; j < stride; j++) { gknots[i * stride + j] = 0.0; }
  let v = x[i];
  if (v <= kx(i, 0u) || v >= kx(i, p.k)) {
    out[i] = gy[i];
    return;
  }
  let b = find_bin(i, v, false);
  let vals = array<f32, 7>(v, kx(i, b), kx(i, b + 1u), ky(i, b), ky(i, b + 1u), kd(i, b), kd(i, b + 1u));
  var grads: array<f32, 7>;
  for (var q = 0u; q < 7u; q++) {
    var du: array<vec2f, 7>;
    for (var m = 0u; m < 7u; m++) { du[m] = vec2f(vals[m], select(0.0, 1.0, m == q)); }
    let r = spline_dual(du[0], du[1], du[2], du[3], du[4], du[5], du[6]);
    grads[q] = gy[i] * r[0].y + gld[i] * r[1].y;
  }
  out[i] = grads[0];
  let o = i * stride;
  gknots[o + b] = grads[1];
  gknots[o + b + 1u] = grads[2];
  gknots[o + p.k + 1u + b] = grads[3];
  gknots[o + p.k + 1u + b + 1u] = grads[4];
  gknots[o + 2u * (p.k + 1u) + b] = grads[5];
  gknots[o + 2u * (p.k + 1u) + b + 1u] = grads[6];
}
