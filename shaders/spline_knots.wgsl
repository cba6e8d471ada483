// Spline knots from unconstrained parameters (the neural-spline-flow parameterisation), for
// shaders/spline.wgsl. Per element, K bins, raw = [rw (K) | rh (K) | rd (K-1)]:
//   widths  w = minw + (1 - minw K) softmax(rw),  xk = -B + 2B cumsum(w), xk[0] = -B, xk[K] = B
//   heights h = minh + (1 - minh K) softmax(rh),  yk likewise
//   interior derivatives dk[j] = mind + softplus(rd[j-1] + c0), j = 1..K-1; dk[0] = dk[K] = 1,
//   with c0 = log(exp(1 - mind) - 1), so raw = 0 is exactly the identity map.
// knots_bwd maps dL/dknots back to dL/draw.
//
// Bindings (group 0):
//   0 p       uniform  P
//   1 raw     read     array<f32>  (n, 3K - 1)
//   2 gknots  read     array<f32>  (n, 3 (K+1)) backward: upstream gradient
//   3 out     rw       array<f32>  forward: knots (n, 3 (K+1)); backward: dL/draw (n, 3K - 1)
// Grid: one invocation per element, 64 per workgroup, x/y folded. K <= 64.

struct P {
  n: u32,
  k: u32,
  bound: f32,
  minw: f32,
  minh: f32,
  mind: f32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> raw: array<f32>;
@group(0) @binding(2) var<storage, read> gknots: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn softplus(v: f32) -> f32 {
  return max(v, 0.0) + log(1.0 + exp(-abs(v)));
}

fn load_raw(ri: u32, r: ptr<function, array<f32, 192>>) {
  for (var j = 0u; j < 3u * p.k - 1u; j++) { (*r)[j] = raw[ri + j]; }
}

fn c0() -> f32 {
  return log(exp(1.0 - p.mind) - 1.0);
}

// softmax(r[o .. o+K]) into s (r: this element's raw parameters, loaded once).
fn softmax_into(r: ptr<function, array<f32, 192>>, o: u32, s: ptr<function, array<f32, 64>>) {
  var mx = (*r)[o];
  for (var j = 1u; j < p.k; j++) { mx = max(mx, (*r)[o + j]); }
  var z = 0.0;
  for (var j = 0u; j < p.k; j++) {
    let e = exp((*r)[o + j] - mx);
    (*s)[j] = e;
    z += e;
  }
  for (var j = 0u; j < p.k; j++) { (*s)[j] = (*s)[j] / z; }
}

@compute @workgroup_size(FLAT_WG)
fn knots_fwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  let K = p.k;
  let ri = i * (3u * K - 1u);
  let ko = i * 3u * (K + 1u);
  var r: array<f32, 192>;
  load_raw(ri, &r);
  var s: array<f32, 64>;
  for (var part = 0u; part < 2u; part++) {
    softmax_into(&r, part * K, &s);
    let mn = select(p.minw, p.minh, part == 1u);
    var acc = -p.bound;
    out[ko + part * (K + 1u)] = -p.bound;
    for (var j = 0u; j < K; j++) {
      acc += 2.0 * p.bound * (mn + (1.0 - mn * f32(K)) * s[j]);
      out[ko + part * (K + 1u) + j + 1u] = select(acc, p.bound, j + 1u == K);
    }
  }
  let dO = ko + 2u * (K + 1u);
  out[dO] = 1.0;
  out[dO + K] = 1.0;
  for (var j = 1u; j < K; j++) {
    out[dO + j] = p.mind + softplus(r[2u * K + j - 1u] + c0());
  }
}

@compute @workgroup_size(FLAT_WG)
fn knots_bwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  let K = p.k;
  let ri = i * (3u * K - 1u);
  let ko = i * 3u * (K + 1u);
  var r: array<f32, 192>;
  load_raw(ri, &r);
  var s: array<f32, 64>;
  var gs: array<f32, 64>;
  for (var part = 0u; part < 2u; part++) {
    softmax_into(&r, part * K, &s);
    let mn = select(p.minw, p.minh, part == 1u);
    // Knot m (1 <= m <= K-1) is -B + 2B sum_{j < m} w_j, so dL/dw_j = 2B sum_{m = j+1}^{K-1} g_m.
    var tail = 0.0;
    for (var jj = 0u; jj < K; jj++) {
      let j = K - 1u - jj;
      gs[j] = 2.0 * p.bound * (1.0 - mn * f32(K)) * tail;
      if (j >= 1u) { tail += gknots[ko + part * (K + 1u) + j]; }
    }
    var dotp = 0.0;
    for (var j = 0u; j < K; j++) { dotp += s[j] * gs[j]; }
    for (var j = 0u; j < K; j++) { out[ri + part * K + j] = s[j] * (gs[j] - dotp); }
  }
  let dO = ko + 2u * (K + 1u);
  for (var j = 1u; j < K; j++) {
    let v = r[2u * K + j - 1u] + c0();
    out[ri + 2u * K + j - 1u] = gknots[dO + j] / (1.0 + exp(-v));
  }
}
