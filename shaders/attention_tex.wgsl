// Attention for CPU drivers: the forward pass and both backward kernels of attention.wgsl, with
// the operands each invocation reads once per key (or per query) fetched from rgba32float
// textures instead of storage buffers. On lavapipe a texel fetch costs about a tenth of a
// storage-buffer vec4 load, and these loops are load-bound. The arithmetic, the order of every
// sum and the outputs are those of attention.wgsl.
//
// Textures (packed by matmul_tex.wgsl's `pack`): texel (h * HD4 + d, b * n + row) holds dims
// 4d..4d+3 of head h of that row of set b (n = nk for keys and values, nq for queries and dout).
//
// Bindings (group 0):
//   0 p      uniform  P
//   1 q      read     array<vec4f>  queries (forward, backward_q), as in attention.wgsl
//   2 valid  read     array<u32>    (batch, nk) 1 = real key; read when p.has_mask == 1
//   3 dout   read     array<vec4f>  (batch, nq, heads*HD4) upstream gradient (backward_q)
//   4 lse    rw       array<f32>    (batch, heads, nq): forward writes LSE; backward kernels read it
//   5 delta  read     array<f32>    (batch, heads, nq) rowsum(dout * o)
//   6 out    rw       array<vec4f>  forward: o; backward_q: dq; backward_kv: dk and dv
//   7 kt     texture  keys
//   8 vt     texture  values
//   9 qt     texture  queries (backward_kv)
//  10 gt     texture  dout (backward_kv)
// Grid: one invocation per (b, h, query row) or (b, h, key row), 64 per workgroup, x/y folded.

const HD4: u32 = 8u; // head_dim / 4 (at most 32), compiled per head dim (KernelSpec.constants)
const NEG_INF: f32 = -3.0e38;

struct P {
  batch: u32,
  nq: u32,
  nk: u32,
  heads: u32,
  q_stride: u32,
  q_offset: u32,
  k_stride: u32,
  k_offset: u32,
  v_stride: u32,
  v_offset: u32,
  o_stride: u32,
  o_offset: u32,
  o2_offset: u32,
  has_mask: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> q: array<vec4f>;
@group(0) @binding(2) var<storage, read> valid: array<u32>;
@group(0) @binding(3) var<storage, read> dout: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<storage, read> delta: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(7) var kt: texture_2d<f32>;
@group(0) @binding(8) var vt: texture_2d<f32>;
@group(0) @binding(9) var qt: texture_2d<f32>;
@group(0) @binding(10) var gt: texture_2d<f32>;

fn key_ok(b: u32, j: u32) -> bool {
  return p.has_mask == 0u || valid[b * p.nk + j] != 0u;
}

fn texel(t: texture_2d<f32>, x: u32, y: u32) -> vec4f {
  return textureLoad(t, vec2u(x, y), 0);
}

@compute @workgroup_size(FLAT_WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = flat_index(gid, nwg);
  if (idx >= p.batch * p.heads * p.nq) { return; }
  let i = idx % p.nq;
  let h = (idx / p.nq) % p.heads;
  let b = idx / (p.nq * p.heads);
  let qb = (b * p.nq + i) * p.q_stride + p.q_offset + h * HD4;
  var qv: array<vec4f, HD4>;
  var acc: array<vec4f, HD4>;
  for (var d = 0u; d < HD4; d++) {
    qv[d] = q[qb + d] * p.scale;
    acc[d] = vec4f(0.0);
  }
  var m = NEG_INF;
  var l = 0.0;
  for (var j = 0u; j < p.nk; j++) {
    if (!key_ok(b, j)) { continue; }
    let y = b * p.nk + j;
    var s = 0.0;
    for (var d = 0u; d < HD4; d++) { s += dot(qv[d], texel(kt, h * HD4 + d, y)); }
    let m_new = max(m, s);
    let corr = exp(m - m_new);
    let pj = exp(s - m_new);
    l = l * corr + pj;
    for (var d = 0u; d < HD4; d++) { acc[d] = acc[d] * corr + pj * texel(vt, h * HD4 + d, y); }
    m = m_new;
  }
  let ob = (b * p.nq + i) * p.o_stride + p.o_offset + h * HD4;
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var d = 0u; d < HD4; d++) { out[ob + d] = acc[d] * inv; }
  lse[(b * p.heads + h) * p.nq + i] = select(NEG_INF, m + log(l), l > 0.0);
}

@compute @workgroup_size(FLAT_WG)
fn backward_q(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = flat_index(gid, nwg);
  if (idx >= p.batch * p.heads * p.nq) { return; }
  let i = idx % p.nq;
  let h = (idx / p.nq) % p.heads;
  let b = idx / (p.nq * p.heads);
  let row = (b * p.heads + h) * p.nq + i;
  let L = lse[row];
  let dl = delta[row];
  let qb = (b * p.nq + i) * p.q_stride + p.q_offset + h * HD4;
  let gb = (b * p.nq + i) * p.heads * HD4 + h * HD4;
  var qv: array<vec4f, HD4>;
  var gv: array<vec4f, HD4>;
  var dq: array<vec4f, HD4>;
  for (var d = 0u; d < HD4; d++) {
    qv[d] = q[qb + d] * p.scale;
    gv[d] = dout[gb + d];
    dq[d] = vec4f(0.0);
  }
  if (L > NEG_INF) {
    for (var j = 0u; j < p.nk; j++) {
      if (!key_ok(b, j)) { continue; }
      let y = b * p.nk + j;
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < HD4; d++) {
        s += dot(qv[d], texel(kt, h * HD4 + d, y));
        dp += dot(gv[d], texel(vt, h * HD4 + d, y));
      }
      let ds = exp(s - L) * (dp - dl) * p.scale;
      for (var d = 0u; d < HD4; d++) { dq[d] += ds * texel(kt, h * HD4 + d, y); }
    }
  }
  let ob = (b * p.nq + i) * p.o_stride + p.o_offset + h * HD4;
  for (var d = 0u; d < HD4; d++) { out[ob + d] = dq[d]; }
}

@compute @workgroup_size(FLAT_WG)
fn backward_kv(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = flat_index(gid, nwg);
  if (idx >= p.batch * p.heads * p.nk) { return; }
  let j = idx % p.nk;
  let h = (idx / p.nk) % p.heads;
  let b = idx / (p.nk * p.heads);
  var kv: array<vec4f, HD4>;
  var vv: array<vec4f, HD4>;
  var dk: array<vec4f, HD4>;
  var dv: array<vec4f, HD4>;
  for (var d = 0u; d < HD4; d++) {
    kv[d] = texel(kt, h * HD4 + d, b * p.nk + j);
    vv[d] = texel(vt, h * HD4 + d, b * p.nk + j);
    dk[d] = vec4f(0.0);
    dv[d] = vec4f(0.0);
  }
  if (key_ok(b, j)) {
    for (var i = 0u; i < p.nq; i++) {
      let row = (b * p.heads + h) * p.nq + i;
      let L = lse[row];
      if (L <= NEG_INF) { continue; }
      let y = b * p.nq + i;
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < HD4; d++) {
        s += dot(texel(qt, h * HD4 + d, y), kv[d]);
        dp += dot(texel(gt, h * HD4 + d, y), vv[d]);
      }
      let pij = exp(s * p.scale - L);
      let ds = pij * (dp - delta[row]) * p.scale;
      for (var d = 0u; d < HD4; d++) {
        dv[d] += pij * texel(gt, h * HD4 + d, y);
        dk[d] += ds * texel(qt, h * HD4 + d, y);
      }
    }
  }
  let ob = (b * p.nk + j) * p.o_stride + h * HD4;
  for (var d = 0u; d < HD4; d++) {
    out[ob + p.o_offset + d] = dk[d];
    out[ob + p.o2_offset + d] = dv[d];
  }
}
