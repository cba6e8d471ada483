// Multi-head scaled dot-product attention with a key-validity mask, streaming ("flash") form:
// one pass over the keys with an online softmax, saving the per-row log-sum-exp (LSE) so the
// backward pass recomputes probabilities instead of storing the (Nq x Nk) matrix.
// Covers self-attention (q, k, v are column blocks of one fused qkv tensor), cross-attention
// (queries and keys from different sets, Nq != Nk) and class attention (Nq = 1).
//
// Layout: row r of set s holds all heads: element (b, i, h, d) of q is
//   q[(b * nq + i) * q_stride + q_offset + h * HD4 + d]   (vec4 units; d < HD4 = head_dim / 4)
// A fully masked query row (no valid key) gets output 0, LSE = -inf sentinel, gradients 0.
//
// Bindings (group 0):
//   0 p      uniform  P
//   1 q      read     array<vec4f>  queries (delta: the forward output o)
//   2 k      read     array<vec4f>  keys
//   3 v      read     array<vec4f>  values
//   4 valid  read     array<u32>    (batch, nk) 1 = real key; read when p.has_mask == 1
//   5 dout   read     array<vec4f>  (batch, nq, heads*HD4) upstream gradient, dense
//   6 lse    rw       array<f32>    (batch, heads, nq): forward writes LSE; delta writes delta
//   7 delta  read     array<f32>    (batch, heads, nq) rowsum(dout * o) per head
//   8 out    rw       array<vec4f>  forward: o; backward_q: dq; backward_kv: dk and dv
// Grid: one invocation per (b, h, query row) or (b, h, key row), 64 per workgroup, x/y folded.
// The `_tiled` entry points at the end (the storage path's default) stage shared rows in
// workgroup memory; their grid is (ceil(rows / 64) * heads, batch).

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
  o2_offset: u32,   // backward_kv: where dv goes (dk goes to o_offset)
  has_mask: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> q: array<vec4f>;
@group(0) @binding(2) var<storage, read> k: array<vec4f>;
@group(0) @binding(3) var<storage, read> v: array<vec4f>;
@group(0) @binding(4) var<storage, read> valid: array<u32>;
@group(0) @binding(5) var<storage, read> dout: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
@group(0) @binding(7) var<storage, read> delta: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<vec4f>;

fn key_ok(b: u32, j: u32) -> bool {
  return p.has_mask == 0u || valid[b * p.nk + j] != 0u;
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
    let kb = (b * p.nk + j) * p.k_stride + p.k_offset + h * HD4;
    var s = 0.0;
    for (var d = 0u; d < HD4; d++) { s += dot(qv[d], k[kb + d]); }
    let m_new = max(m, s);
    let corr = exp(m - m_new);
    let pj = exp(s - m_new);
    l = l * corr + pj;
    let vb = (b * p.nk + j) * p.v_stride + p.v_offset + h * HD4;
    for (var d = 0u; d < HD4; d++) { acc[d] = acc[d] * corr + pj * v[vb + d]; }
    m = m_new;
  }
  let ob = (b * p.nq + i) * p.o_stride + p.o_offset + h * HD4;
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var d = 0u; d < HD4; d++) { out[ob + d] = acc[d] * inv; }
  lse[(b * p.heads + h) * p.nq + i] = select(NEG_INF, m + log(l), l > 0.0);
}

// delta[b, h, i] = sum_d dout * o, with o bound at `q` (dense: q_stride = heads*HD4).
@compute @workgroup_size(FLAT_WG)
fn delta_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = flat_index(gid, nwg);
  if (idx >= p.batch * p.heads * p.nq) { return; }
  let i = idx % p.nq;
  let h = (idx / p.nq) % p.heads;
  let b = idx / (p.nq * p.heads);
  let ob = (b * p.nq + i) * p.q_stride + h * HD4;
  let gb = (b * p.nq + i) * p.heads * HD4 + h * HD4;
  var s = 0.0;
  for (var d = 0u; d < HD4; d++) { s += dot(dout[gb + d], q[ob + d]); }
  lse[(b * p.heads + h) * p.nq + i] = s;
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
      let kb = (b * p.nk + j) * p.k_stride + p.k_offset + h * HD4;
      let vb = (b * p.nk + j) * p.v_stride + p.v_offset + h * HD4;
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < HD4; d++) {
        s += dot(qv[d], k[kb + d]);
        dp += dot(gv[d], v[vb + d]);
      }
      let ds = exp(s - L) * (dp - dl) * p.scale;
      for (var d = 0u; d < HD4; d++) { dq[d] += ds * k[kb + d]; }
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
  let kb = (b * p.nk + j) * p.k_stride + p.k_offset + h * HD4;
  let vb = (b * p.nk + j) * p.v_stride + p.v_offset + h * HD4;
  var kv: array<vec4f, HD4>;
  var vv: array<vec4f, HD4>;
  var dk: array<vec4f, HD4>;
  var dv: array<vec4f, HD4>;
  for (var d = 0u; d < HD4; d++) {
    kv[d] = k[kb + d];
    vv[d] = v[vb + d];
    dk[d] = vec4f(0.0);
    dv[d] = vec4f(0.0);
  }
  if (key_ok(b, j)) {
    for (var i = 0u; i < p.nq; i++) {
      let row = (b * p.heads + h) * p.nq + i;
      let L = lse[row];
      if (L <= NEG_INF) { continue; }
      let qb = (b * p.nq + i) * p.q_stride + p.q_offset + h * HD4;
      let gb = (b * p.nq + i) * p.heads * HD4 + h * HD4;
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < HD4; d++) {
        s += dot(q[qb + d], kv[d]);
        dp += dot(dout[gb + d], vv[d]);
      }
      let pij = exp(s * p.scale - L);
      let ds = pij * (dp - delta[row]) * p.scale;
      for (var d = 0u; d < HD4; d++) {
        dv[d] += pij * dout[gb + d];
        dk[d] += ds * q[qb + d];
      }
    }
  }
  let ob = (b * p.nk + j) * p.o_stride + h * HD4;
  for (var d = 0u; d < HD4; d++) {
    out[ob + p.o_offset + d] = dk[d];
    out[ob + p.o2_offset + d] = dv[d];
  }
}

// ---- Workgroup-tiled variants (storage path) ----
// One workgroup of 64 invocations per (set b, head h, block of 64 rows): the rows it loops over
// (keys and values for `forward_tiled` and `backward_q_tiled`; queries, upstream gradients, LSE
// and delta for `backward_kv_tiled`) are staged CHUNK rows at a time in workgroup memory (2 x 4
// KiB of vec4s plus the chunk's flags), so each is read from storage once per workgroup instead
// of once per invocation. Every invocation then does exactly the arithmetic of the flat kernel
// above, in the same order, so the results are bit-identical to it.
// Grid: (ceil(rows / 64) * heads, batch); x = h * blocks + block.
const CHUNK: u32 = 256u / HD4; // staged rows per chunk
var<workgroup> stage_a: array<vec4f, 256>; // [row][d]: keys, or queries
var<workgroup> stage_b: array<vec4f, 256>; // values, or upstream gradients
var<workgroup> stage_f: array<f32, 256>;   // backward_kv: LSE per staged query row
var<workgroup> stage_g: array<f32, 256>;   // backward_kv: delta per staged query row
var<workgroup> stage_ok: array<u32, 256>;  // 1 = the staged key is valid (or the query row live)

// Stages keys and values [j0, j0 + CHUNK) of (b, h), with their validity; rows past nk are
// zeros and flagged invalid. Called by all 64 invocations, between barriers.
fn stage_keys(b: u32, h: u32, j0: u32, lid: u32) {
  for (var e = lid; e < CHUNK * HD4; e += 64u) {
    let j = j0 + e / HD4;
    let d = e % HD4;
    var kx = vec4f(0.0);
    var vx = vec4f(0.0);
    if (j < p.nk) {
      kx = k[(b * p.nk + j) * p.k_stride + p.k_offset + h * HD4 + d];
      vx = v[(b * p.nk + j) * p.v_stride + p.v_offset + h * HD4 + d];
    }
    stage_a[e] = kx;
    stage_b[e] = vx;
  }
  for (var jj = lid; jj < CHUNK; jj += 64u) {
    let j = j0 + jj;
    stage_ok[jj] = select(0u, 1u, j < p.nk && key_ok(b, j));
  }
}

@compute @workgroup_size(64)
fn forward_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let blocks = (p.nq + 63u) / 64u;
  let h = wg.x / blocks;
  let i = (wg.x % blocks) * 64u + lid;
  let b = wg.y;
  let live = i < p.nq;
  let qb = (b * p.nq + min(i, p.nq - 1u)) * p.q_stride + p.q_offset + h * HD4;
  var qv: array<vec4f, HD4>;
  var acc: array<vec4f, HD4>;
  for (var d = 0u; d < HD4; d++) {
    qv[d] = q[qb + d] * p.scale;
    acc[d] = vec4f(0.0);
  }
  var m = NEG_INF;
  var l = 0.0;
  for (var j0 = 0u; j0 < p.nk; j0 += CHUNK) {
    workgroupBarrier();
    stage_keys(b, h, j0, lid);
    workgroupBarrier();
    let n = min(CHUNK, p.nk - j0);
    for (var jj = 0u; jj < n; jj++) {
      if (stage_ok[jj] != 0u) {
        var s = 0.0;
        for (var d = 0u; d < HD4; d++) { s += dot(qv[d], stage_a[jj * HD4 + d]); }
        let m_new = max(m, s);
        let corr = exp(m - m_new);
        let pj = exp(s - m_new);
        l = l * corr + pj;
        for (var d = 0u; d < HD4; d++) { acc[d] = acc[d] * corr + pj * stage_b[jj * HD4 + d]; }
        m = m_new;
      }
    }
  }
  if (!live) { return; }
  let ob = (b * p.nq + i) * p.o_stride + p.o_offset + h * HD4;
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var d = 0u; d < HD4; d++) { out[ob + d] = acc[d] * inv; }
  lse[(b * p.heads + h) * p.nq + i] = select(NEG_INF, m + log(l), l > 0.0);
}

@compute @workgroup_size(64)
fn backward_q_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let blocks = (p.nq + 63u) / 64u;
  let h = wg.x / blocks;
  let i = (wg.x % blocks) * 64u + lid;
  let b = wg.y;
  let live = i < p.nq;
  let ic = min(i, p.nq - 1u);
  let row = (b * p.heads + h) * p.nq + ic;
  let L = lse[row];
  let dl = delta[row];
  let qb = (b * p.nq + ic) * p.q_stride + p.q_offset + h * HD4;
  let gb = (b * p.nq + ic) * p.heads * HD4 + h * HD4;
  var qv: array<vec4f, HD4>;
  var gv: array<vec4f, HD4>;
  var dq: array<vec4f, HD4>;
  for (var d = 0u; d < HD4; d++) {
    qv[d] = q[qb + d] * p.scale;
    gv[d] = dout[gb + d];
    dq[d] = vec4f(0.0);
  }
  for (var j0 = 0u; j0 < p.nk; j0 += CHUNK) {
    workgroupBarrier();
    stage_keys(b, h, j0, lid);
    workgroupBarrier();
    let n = select(0u, min(CHUNK, p.nk - j0), L > NEG_INF);
    for (var jj = 0u; jj < n; jj++) {
      if (stage_ok[jj] != 0u) {
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < HD4; d++) {
          s += dot(qv[d], stage_a[jj * HD4 + d]);
          dp += dot(gv[d], stage_b[jj * HD4 + d]);
        }
        let ds = exp(s - L) * (dp - dl) * p.scale;
        for (var d = 0u; d < HD4; d++) { dq[d] += ds * stage_a[jj * HD4 + d]; }
      }
    }
  }
  if (!live) { return; }
  let ob = (b * p.nq + i) * p.o_stride + p.o_offset + h * HD4;
  for (var d = 0u; d < HD4; d++) { out[ob + d] = dq[d]; }
}

@compute @workgroup_size(64)
fn backward_kv_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let blocks = (p.nk + 63u) / 64u;
  let h = wg.x / blocks;
  let j = (wg.x % blocks) * 64u + lid;
  let b = wg.y;
  let live = j < p.nk;
  let jc = min(j, p.nk - 1u);
  let kb = (b * p.nk + jc) * p.k_stride + p.k_offset + h * HD4;
  let vb = (b * p.nk + jc) * p.v_stride + p.v_offset + h * HD4;
  var kv: array<vec4f, HD4>;
  var vv: array<vec4f, HD4>;
  var dk: array<vec4f, HD4>;
  var dv: array<vec4f, HD4>;
  for (var d = 0u; d < HD4; d++) {
    kv[d] = k[kb + d];
    vv[d] = v[vb + d];
    dk[d] = vec4f(0.0);
    dv[d] = vec4f(0.0);
  }
  let ok = live && key_ok(b, jc);
  for (var i0 = 0u; i0 < p.nq; i0 += CHUNK) {
    workgroupBarrier();
    // Stage queries, upstream gradients, LSE and delta of rows [i0, i0 + CHUNK).
    for (var e = lid; e < CHUNK * HD4; e += 64u) {
      let i = i0 + e / HD4;
      let d = e % HD4;
      var qx = vec4f(0.0);
      var gx = vec4f(0.0);
      if (i < p.nq) {
        qx = q[(b * p.nq + i) * p.q_stride + p.q_offset + h * HD4 + d];
        gx = dout[(b * p.nq + i) * p.heads * HD4 + h * HD4 + d];
      }
      stage_a[e] = qx;
      stage_b[e] = gx;
    }
    for (var ii = lid; ii < CHUNK; ii += 64u) {
      let i = i0 + ii;
      let row = (b * p.heads + h) * p.nq + min(i, p.nq - 1u);
      stage_f[ii] = lse[row];
      stage_g[ii] = delta[row];
      stage_ok[ii] = select(0u, 1u, i < p.nq && lse[row] > NEG_INF);
    }
    workgroupBarrier();
    let n = select(0u, min(CHUNK, p.nq - i0), ok);
    for (var ii = 0u; ii < n; ii++) {
      if (stage_ok[ii] != 0u) {
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < HD4; d++) {
          s += dot(stage_a[ii * HD4 + d], kv[d]);
          dp += dot(stage_b[ii * HD4 + d], vv[d]);
        }
        let pij = exp(s * p.scale - stage_f[ii]);
        let ds = pij * (dp - stage_g[ii]) * p.scale;
        for (var d = 0u; d < HD4; d++) {
          dv[d] += pij * stage_b[ii * HD4 + d];
          dk[d] += ds * stage_a[ii * HD4 + d];
        }
      }
    }
  }
  if (!live) { return; }
  let ob = (b * p.nk + j) * p.o_stride + h * HD4;
  for (var d = 0u; d < HD4; d++) {
    out[ob + p.o_offset + d] = dk[d];
    out[ob + p.o2_offset + d] = dv[d];
  }
}
