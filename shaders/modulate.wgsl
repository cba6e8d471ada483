// Per-set (per-jet) modulation for adaptive LayerNorm (adaLN) conditioning, as in diffusion
// transformers: every particle of jet b shares the vectors scale[b], shift[b], gate[b].
//   modulate:        y[b,n,:] = x[b,n,:] * (1 + scale[b,:]) + shift[b,:]
//   gated residual:  y[b,n,:] = res[b,n,:] + gate[b,:] * x[b,n,:]
// Backward: dx = g * (c + s[b]) with c = 1 (modulate) or 0 (gate); the per-set vectors get
// dS[b,d] = sum_n g[b,n,d] x[b,n,d] and dT[b,d] = sum_n g[b,n,d] (reduced over the set axis).
//
// Bindings (group 0):
//   0 p     uniform  P
//   1 x     read     array<f32>  (B, N, D)
//   2 s     read     array<f32>  (B, D) scale or gate
//   3 aux   read     array<f32>  modulate_fwd: shift (B, D); gate_fwd: res (B, N, D);
//                                backward entries: g (B, N, D)
//   4 out   rw       array<f32>  forward: y; dx_bwd: dx; params_bwd: dS (B, D)
//   5 out2  rw       array<f32>  params_bwd: dT (B, D)
// Grid: one invocation per element (params_bwd: per (b, d)), 64 per workgroup, x/y folded.

struct P {
  b: u32,
  n: u32,
  d: u32,
  c: f32,   // 1 for modulate, 0 for gate (dx_bwd)
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> s: array<f32>;
@group(0) @binding(3) var<storage, read> aux: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> out2: array<f32>;

// Index (b, d) of the per-set vector for element i of (B, N, D).
fn set_index(i: u32) -> u32 {
  return (i / (p.n * p.d)) * p.d + i % p.d;
}

@compute @workgroup_size(FLAT_WG)
fn modulate_fwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.b * p.n * p.d) { return; }
  let j = set_index(i);
  out[i] = x[i] * (1.0 + s[j]) + aux[j];
}

@compute @workgroup_size(FLAT_WG)
fn gate_fwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.b * p.n * p.d) { return; }
  out[i] = aux[i] + s[set_index(i)] * x[i];
}

@compute @workgroup_size(FLAT_WG)
fn dx_bwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.b * p.n * p.d) { return; }
  out[i] = aux[i] * (p.c + s[set_index(i)]);
}

@compute @workgroup_size(FLAT_WG)
fn params_bwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = flat_index(gid, nwg);
  if (j >= p.b * p.d) { return; }
  let b = j / p.d;
  let d = j % p.d;
  var ds = 0.0;
  var dt = 0.0;
  for (var n = 0u; n < p.n; n++) {
    let i = (b * p.n + n) * p.d + d;
    ds += aux[i] * x[i];
    dt += aux[i];
  }
  out[j] = ds;
  out2[j] = dt;
}
