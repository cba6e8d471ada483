enable f16;

// Mixed precision: conversions between f32 and f16 tensors, and a matmul whose operands are f16
// (half the bytes read) with f32 accumulation, bias and output:
// C = alpha * op(A) op(B) (+ bias) (+ C). Compiled only on adapters with `shader-f16`.
//
// Bindings (group 0):
//   0 p     uniform  P
//   1 a     read     array<f16>  op(A) is (M, K): stored (batch, M, K), or (batch, K, M) if TRANS_A;
//                                to_float: the f16 source
//   2 b     read     array<f16>  op(B) is (K, N): stored (batch, K, N), or (batch, N, K) if TRANS_B
//   3 x     read     array<f32>  matmul_half: bias (N), read when p.has_bias == 1; to_half: the source
//   4 c     rw       array<f32>  matmul_half: (batch, M, N); to_float: the result
//   5 h     rw       array<f16>  to_half: the result
// Grid: matmul_half as matmul_tiled in matmul.wgsl (16x16 invocations per 64x64 tile of C, K in
// slices of 16 staged in workgroup memory as f32; z = batch); the conversions one invocation per
// element, 64 per workgroup, x/y folded (p.m = element count).

override TRANS_A: bool = false;
override TRANS_B: bool = false;

struct P {
  m: u32,
  n: u32,
  k: u32,
  stride_a: u32,
  stride_b: u32,
  stride_c: u32,
  has_bias: u32,
  accumulate: u32,
  alpha: f32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> a: array<f16>;
@group(0) @binding(2) var<storage, read> b: array<f16>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read_write> h: array<f16>;

// h[i] = f16(x[i]) (round to nearest; beyond ±65504 the value saturates to ±inf).
@compute @workgroup_size(FLAT_WG)
fn to_half(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.m) { return; }
  h[i] = f16(x[i]);
}

// c[i] = f32(a[i]) (exact).
@compute @workgroup_size(FLAT_WG)
fn to_float(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.m) { return; }
  c[i] = f32(a[i]);
}

fn load_a(base: u32, row: u32, kk: u32) -> f32 {
  if (row >= p.m || kk >= p.k) { return 0.0; }
  if (TRANS_A) { return f32(a[base + kk * p.m + row]); }
  return f32(a[base + row * p.k + kk]);
}

fn load_b(base: u32, kk: u32, col: u32) -> f32 {
  if (col >= p.n || kk >= p.k) { return 0.0; }
  if (TRANS_B) { return f32(b[base + col * p.k + kk]); }
  return f32(b[base + kk * p.n + col]);
}

const TILE: u32 = 64u;
const SLICE: u32 = 16u;
var<workgroup> tile_a: array<f32, 1024>; // [kk][row], SLICE x TILE
var<workgroup> tile_b: array<f32, 1024>; // [kk][col], SLICE x TILE

@compute @workgroup_size(16, 16)
fn matmul_half(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row_base = wg.y * TILE;
  let col_base = wg.x * TILE;
  let batch = wg.z;
  let ba = batch * p.stride_a;
  let bb = batch * p.stride_b;
  let t = lid.y * 16u + lid.x;
  var acc: array<vec4f, 4>;
  for (var k0 = 0u; k0 < p.k; k0 += SLICE) {
    for (var i = 0u; i < 4u; i++) {
      let e = t + i * 256u;
      var r = e / SLICE;
      var ka = e % SLICE;
      if (TRANS_A) { ka = e / TILE; r = e % TILE; }
      tile_a[ka * TILE + r] = load_a(ba, row_base + r, k0 + ka);
      var cb = e % TILE;
      var kb = e / TILE;
      if (TRANS_B) { cb = e / SLICE; kb = e % SLICE; }
      tile_b[kb * TILE + cb] = load_b(bb, k0 + kb, col_base + cb);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < SLICE; kk++) {
      let o = kk * TILE;
      let bv = vec4f(tile_b[o + lid.x * 4u], tile_b[o + lid.x * 4u + 1u],
        tile_b[o + lid.x * 4u + 2u], tile_b[o + lid.x * 4u + 3u]);
      let av = vec4f(tile_a[o + lid.y * 4u], tile_a[o + lid.y * 4u + 1u],
        tile_a[o + lid.y * 4u + 2u], tile_a[o + lid.y * 4u + 3u]);
      acc[0] = fma(vec4f(av.x), bv, acc[0]);
      acc[1] = fma(vec4f(av.y), bv, acc[1]);
      acc[2] = fma(vec4f(av.z), bv, acc[2]);
      acc[3] = fma(vec4f(av.w), bv, acc[3]);
    }
    workgroupBarrier();
  }
  let row0 = row_base + lid.y * 4u;
  let col0 = col_base + lid.x * 4u;
  let bc = batch * p.stride_c;
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + i;
    if (row >= p.m) { break; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + j;
      if (col >= p.n) { break; }
      var v = p.alpha * acc[i][j];
      if (p.has_bias == 1u) { v += x[col]; }
      let idx = bc + row * p.n + col;
      if (p.accumulate == 1u) { v += c[idx]; }
      c[idx] = v;
    }
  }
}
