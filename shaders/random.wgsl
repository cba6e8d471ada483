// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011): element i of a draw with
// (seed, stream, offset) is a pure function of those and i, so results are reproducible across
// runs, dispatch shapes and devices, and a resumed run continues a stream exactly.
//   counter = (lo(c), hi(c), stream, 0), key = (lo(seed), hi(seed)), with c = offset + i, or in a
//   row layout (row_len > 0) c = offset + (i / row_len) * row_stride + i % row_len (64-bit), so
//   each row of a tensor draws from its own range of the stream (e.g. one range per jet)
//   uniform: (x >> 8) * 2^-24 + 2^-25 in (0, 1), then lo + (hi - lo) * u
//   normal:  Box-Muller on (x, y): mean + std * sqrt(-2 ln u1) cos(2 pi u2)
//
// Bindings (group 0):
//   0 p    uniform  P
//   1 out  rw       array<f32>  (n)
// Grid: one invocation per element, 64 per workgroup, x/y folded.

struct P {
  n: u32,
  seed_lo: u32,
  seed_hi: u32,
  stream: u32,
  offset_lo: u32,
  offset_hi: u32,
  a: f32,   // uniform: lo; normal: mean
  b: f32,   // uniform: hi; normal: std
  row_len: u32,     // 0: contiguous counters
  row_stride: u32,  // counters per row (>= row_len)
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

// 32 x 32 -> 64-bit product as (hi, lo).
fn mulhilo(a: u32, b: u32) -> vec2u {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
  return vec2u(hi, a * b);
}

fn philox(c0: vec4u, k0: vec2u) -> vec4u {
  var c = c0;
  var k = k0;
  for (var r = 0u; r < 10u; r++) {
    let m0 = mulhilo(0xD2511F53u, c.x);
    let m1 = mulhilo(0xCD9E8D57u, c.z);
    c = vec4u(m1.x ^ c.y ^ k.x, m1.y, m0.x ^ c.w ^ k.y, m0.y);
    k = k + vec2u(0x9E3779B9u, 0xBB67AE85u);
  }
  return c;
}

fn draw(i: u32) -> vec4u {
  // 64-bit counter c = offset + d, d = i or its row layout's (hi, lo).
  var d = vec2u(0u, i);
  if (p.row_len > 0u) {
    d = mulhilo(i / p.row_len, p.row_stride);
    let within = i % p.row_len;
    let l = d.y + within;
    d = vec2u(d.x + select(0u, 1u, l < d.y), l);
  }
  let lo = p.offset_lo + d.y;
  let carry = select(0u, 1u, lo < p.offset_lo);
  return philox(
    vec4u(lo, p.offset_hi + d.x + carry, p.stream, 0u),
    vec2u(p.seed_lo, p.seed_hi),
  );
}

fn to_unit(x: u32) -> f32 {
  return f32(x >> 8u) * 5.9604644775390625e-8 + 2.98023223876953125e-8;
}

@compute @workgroup_size(FLAT_WG)
fn rand_uniform(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = p.a + (p.b - p.a) * to_unit(draw(i).x);
}

@compute @workgroup_size(FLAT_WG)
fn rand_normal(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  let r = draw(i);
  let u1 = to_unit(r.x);
  let u2 = to_unit(r.y);
  out[i] = p.a + p.b * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
