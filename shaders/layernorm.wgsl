// LayerNorm over the last axis (affine, eps from the uniform, 1e-5 by default), forward and
// backward. One workgroup (64 invocations) per row; f32 partial sums reduced in workgroup
// memory; two passes (mean, then centred variance) for accuracy.
//
// Bindings (group 0):
//   0 p      uniform  P
//   1 x      read     array<f32>  (rows, cols) input
//   2 gamma  read     array<f32>  (cols)
//   3 beta   read     array<f32>  (cols)
//   4 dy     read     array<f32>  (rows, cols) upstream gradient (backward)
//   5 out    rw       array<f32>  forward: y (rows, cols); backward dx: dx (rows, cols);
//                                 backward params: partial sums (chunks, 2*cols) = [dgamma | dbeta]
//   6 mean   rw       array<f32>  (rows) saved by forward, read by backward
//   7 rstd   rw       array<f32>  (rows) saved by forward, read by backward
// Grid: forward/backward_dx: one workgroup per row (x, y folded); param partials: one
// invocation per (chunk, col).

struct P {
  rows: u32,
  cols: u32,
  eps: f32,
  chunk_rows: u32,
  chunks: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> mean: array<f32>;
@group(0) @binding(7) var<storage, read_write> rstd: array<f32>;

var<workgroup> red: array<f32, 64>;
var<workgroup> red2: array<f32, 64>;

// Sums `a` (and `b`) over the workgroup; every invocation gets the totals.
fn wg_sum2(lid: u32, a: f32, b: f32) -> vec2f {
  red[lid] = a;
  red2[lid] = b;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] += red[lid + s];
      red2[lid] += red2[lid + s];
    }
    workgroupBarrier();
  }
  let r = vec2f(red[0], red2[0]);
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }   // uniform per workgroup
  let base = row * p.cols;
  var s = 0.0;
  for (var c = lid; c < p.cols; c += 64u) { s += x[base + c]; }
  let mu = wg_sum2(lid, s, 0.0).x / f32(p.cols);
  var v = 0.0;
  for (var c = lid; c < p.cols; c += 64u) { let d = x[base + c] - mu; v += d * d; }
  let r = inverseSqrt(wg_sum2(lid, v, 0.0).x / f32(p.cols) + p.eps);
  for (var c = lid; c < p.cols; c += 64u) {
    out[base + c] = (x[base + c] - mu) * r * gamma[c] + beta[c];
  }
  if (lid == 0u) {
    mean[row] = mu;
    rstd[row] = r;
  }
}

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma
@compute @workgroup_size(64)
fn backward_dx(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  let mu = mean[row];
  let r = rstd[row];
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = lid; c < p.cols; c += 64u) {
    let g = dy[base + c] * gamma[c];
    sg += g;
    sgx += g * (x[base + c] - mu) * r;
  }
  let t = wg_sum2(lid, sg, sgx) / f32(p.cols);
  for (var c = lid; c < p.cols; c += 64u) {
    let xh = (x[base + c] - mu) * r;
    out[base + c] = r * (dy[base + c] * gamma[c] - t.x - xh * t.y);
  }
}

// Partial sums over chunks of rows: out[chunk, c] = sum dy * xhat, out[chunk, cols + c] = sum dy.
@compute @workgroup_size(FLAT_WG)
fn backward_params(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.chunks * p.cols) { return; }
  let chunk = i / p.cols;
  let c = i - chunk * p.cols;
  let r1 = min((chunk + 1u) * p.chunk_rows, p.rows);
  var sgx = 0.0;
  var sg = 0.0;
  for (var row = chunk * p.chunk_rows; row < r1; row++) {
    let g = dy[row * p.cols + c];
    sgx += g * (x[row * p.cols + c] - mean[row]) * rstd[row];
    sg += g;
  }
  out[chunk * 2u * p.cols + c] = sgx;
  out[chunk * 2u * p.cols + p.cols + c] = sg;
}

// Row-per-invocation variants (no workgroup barriers): faster on CPU drivers, where a barrier
// costs far more than a serial loop over a few hundred columns. Grid: one invocation per row,
// 64 per workgroup, x/y folded.
@compute @workgroup_size(FLAT_WG)
fn forward_row(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_index(gid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var s = 0.0;
  for (var c = 0u; c < p.cols; c++) { s += x[base + c]; }
  let mu = s / f32(p.cols);
  var v = 0.0;
  for (var c = 0u; c < p.cols; c++) { let d = x[base + c] - mu; v += d * d; }
  let r = inverseSqrt(v / f32(p.cols) + p.eps);
  for (var c = 0u; c < p.cols; c++) {
    out[base + c] = (x[base + c] - mu) * r * gamma[c] + beta[c];
  }
  mean[row] = mu;
  rstd[row] = r;
}

@compute @workgroup_size(FLAT_WG)
fn backward_dx_row(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_index(gid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  let mu = mean[row];
  let r = rstd[row];
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = 0u; c < p.cols; c++) {
    let g = dy[base + c] * gamma[c];
    sg += g;
    sgx += g * (x[base + c] - mu) * r;
  }
  let mg = sg / f32(p.cols);
  let mgx = sgx / f32(p.cols);
  for (var c = 0u; c < p.cols; c++) {
    let xh = (x[base + c] - mu) * r;
    out[base + c] = r * (dy[base + c] * gamma[c] - mg - xh * mgx);
  }
}
