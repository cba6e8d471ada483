// Batched matmul over storage buffers, register-tiled: C = alpha * op(A) op(B) (+ bias) (+ C).
// Used on discrete GPUs; CPU drivers use matmul_tex.wgsl (storage loads are slow there).
// The backward pass reuses this kernel: dA = dC B^T (TRANS_B), dB = A^T dC (TRANS_A).
//
// Bindings (group 0):
//   0 p     uniform  P
//   1 a     read     array<f32>  op(A) is (M, K): stored (batch, M, K), or (batch, K, M) if TRANS_A
//   2 b     read     array<f32>  op(B) is (K, N): stored (batch, K, N), or (batch, N, K) if TRANS_B
//   3 bias  read     array<f32>  (N), read when p.has_bias == 1
//   4 c     rw       array<f32>  (batch, M, N)
// Grid: workgroup 8x8 invocations, each computing a 4x4 tile of C; z = batch.
// Batch strides of 0 broadcast an operand (a shared weight).

override TRANS_A: bool = false;
override TRANS_B: bool = false;

struct P {
  m: u32,
  n: u32,
  k: u32,
  stride_a: u32,   // elements between batches of A (0 = broadcast)
  stride_b: u32,
  stride_c: u32,
  has_bias: u32,
  accumulate: u32, // C += result
  alpha: f32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

fn load_a(base: u32, row: u32, kk: u32) -> f32 {
  if (row >= p.m || kk >= p.k) { return 0.0; }
  if (TRANS_A) { return a[base + kk * p.m + row]; }
  return a[base + row * p.k + kk];
}

fn load_b(base: u32, kk: u32, col: u32) -> f32 {
  if (col >= p.n || kk >= p.k) { return 0.0; }
  if (TRANS_B) { return b[base + col * p.k + kk]; }
  return b[base + kk * p.n + col];
}

@compute @workgroup_size(8, 8)
fn matmul(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * 4u;
  let col0 = gid.x * 4u;
  if (row0 >= p.m || col0 >= p.n) { return; }
  let batch = gid.z;
  let ba = batch * p.stride_a;
  let bb = batch * p.stride_b;
  var acc: array<vec4f, 4>;
  for (var kk = 0u; kk < p.k; kk++) {
    let bv = vec4f(load_b(bb, kk, col0), load_b(bb, kk, col0 + 1u), load_b(bb, kk, col0 + 2u),
      load_b(bb, kk, col0 + 3u));
    acc[0] = fma(vec4f(load_a(ba, row0, kk)), bv, acc[0]);
    acc[1] = fma(vec4f(load_a(ba, row0 + 1u, kk)), bv, acc[1]);
    acc[2] = fma(vec4f(load_a(ba, row0 + 2u, kk)), bv, acc[2]);
    acc[3] = fma(vec4f(load_a(ba, row0 + 3u, kk)), bv, acc[3]);
  }
  let bc = batch * p.stride_c;
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + i;
    if (row >= p.m) { break; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + j;
      if (col >= p.n) { break; }
      var v = p.alpha * acc[i][j];
      if (p.has_bias == 1u) { v += bias[col]; }
      let idx = bc + row * p.n + col;
      if (p.accumulate == 1u) { v += c[idx]; }
      c[idx] = v;
    }
  }
}
