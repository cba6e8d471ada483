// Softmax cross-entropy with label smoothing and optional class weights (PyTorch semantics),
// for vocabularies up to 16384+, reduced as a mean over valid rows:
//   q_c  = (1 - eps) * w_y * [c == y] + (eps / V) * w_c          (target distribution)
//   L_r  = sum_c q_c * (lse - z_c)                                 (per-row numerator)
//   loss = sum_r valid_r L_r / sum_r valid_r w_y                   (w = 1 without class weights)
// Rows with target < 0 are ignored (like ignore_index).
//
// Bindings (group 0):
//   0 p        uniform  P
//   1 logits   read     array<f32>  (rows, V)
//   2 target   read     array<i32>  (rows)
//   3 valid    read     array<u32>  (rows), read when p.has_valid == 1
//   4 cw       read     array<f32>  (V) class weights, read when p.has_cw == 1
//   5 g        read     array<f32>  (1) upstream gradient of the mean loss (backward)
//   6 total    read     array<f32>  (>= 2) column sums of stats: [sum L, sum w] (backward)
//   7 stats    rw       array<f32>  (rows, 4): [L_r, w_y, lse, Q = sum_c q_c] (forward writes)
//   8 out      rw       array<f32>  (rows, V) backward: dlogits
// Grid: forward: one 64-wide workgroup per row (x/y folded); backward: one invocation per logit.

struct P {
  rows: u32,
  vocab: u32,
  eps: f32,
  has_valid: u32,
  has_cw: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> tgt: array<i32>;
@group(0) @binding(3) var<storage, read> valid: array<u32>;
@group(0) @binding(4) var<storage, read> cw: array<f32>;
@group(0) @binding(5) var<storage, read> g: array<f32>;
@group(0) @binding(6) var<storage, read> total: array<f32>;
@group(0) @binding(7) var<storage, read_write> stats: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;

var<workgroup> red: array<vec3f, 64>;

fn cweight(c: u32) -> f32 {
  return select(1.0, cw[c], p.has_cw == 1u);
}

fn row_used(r: u32) -> bool {
  return (p.has_valid == 0u || valid[r] != 0u) && tgt[r] >= 0 && u32(tgt[r]) < p.vocab;
}

// Tree reduction of (a, b, c) with op 0 = sum, op 1 = max on .x only.
fn wg_reduce(lid: u32, v: vec3f, use_max: bool) -> vec3f {
  red[lid] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let o = red[lid + s];
      if (use_max) { red[lid].x = max(red[lid].x, o.x); } else { red[lid] += o; }
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) lid: u32) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= p.rows) { return; }
  let base = r * p.vocab;
  var mx = -3.0e38;
  for (var c = lid; c < p.vocab; c += 64u) { mx = max(mx, logits[base + c]); }
  let m = wg_reduce(lid, vec3f(mx, 0.0, 0.0), true).x;
  // sum exp, sum w_c z_c, sum w_c
  var acc = vec3f(0.0);
  for (var c = lid; c < p.vocab; c += 64u) {
    let z = logits[base + c];
    let w = cweight(c);
    acc += vec3f(exp(z - m), w * z, w);
  }
  let s = wg_reduce(lid, acc, false);
  if (lid == 0u) {
    let lse = m + log(s.x);
    let used = row_used(r);
    var L = 0.0;
    var wy = 0.0;
    var Q = 0.0;
    if (used) {
      let y = u32(tgt[r]);
      wy = cweight(y);
      let sm = p.eps / f32(p.vocab);
      L = (1.0 - p.eps) * wy * (lse - logits[base + y]) + sm * (s.z * lse - s.y);
      Q = (1.0 - p.eps) * wy + sm * s.z;
    }
    stats[r * 4u] = L;
    stats[r * 4u + 1u] = wy;
    stats[r * 4u + 2u] = lse;
    stats[r * 4u + 3u] = Q;
  }
}

// dlogits[r, c] = g / W * (softmax_c * Q - q_c) for used rows, else 0.
@compute @workgroup_size(FLAT_WG)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.rows * p.vocab) { return; }
  let r = i / p.vocab;
  let c = i - r * p.vocab;
  let W = total[1];
  if (!row_used(r) || W == 0.0) {
    out[i] = 0.0;
    return;
  }
  let y = u32(tgt[r]);
  let pc = exp(logits[i] - stats[r * 4u + 2u]);
  var qc = (p.eps / f32(p.vocab)) * cweight(c);
  if (c == y) { qc += (1.0 - p.eps) * cweight(y); }
  out[i] = g[0] / W * (pc * stats[r * 4u + 3u] - qc);
}
