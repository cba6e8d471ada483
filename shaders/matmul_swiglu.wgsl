// A linear layer with a SwiGLU epilogue, fused (storage path): for x (M, K), w (2H, K), bias (2H)
//   [a | b] = x wᵀ + bias          (a = columns 0..H-1, b = columns H..2H-1)
//   h = silu(a) * b = a * sigmoid(a) * b
// in one pass instead of a matmul and an elementwise kernel. [a | b] is written too when the
// backward pass needs it (p.save_ab == 1); inference skips that write. Each output's products
// are added in the order of the other matmul kernels (k ascending, one fma each) and the
// epilogue repeats `swiglu_fwd`'s expression, so the results equal the unfused path bit for bit.
//
// Bindings (group 0):
//   0 p     uniform  P
//   1 x     read     array<f32>  (M, K)
//   2 w     read     array<f32>  (2H, K)
//   3 bias  read     array<f32>  (2H), read when p.has_bias == 1
//   4 ab    rw       array<f32>  (M, 2H) pre-activations, written when p.save_ab == 1
//   5 h     rw       array<f32>  (M, H)
// Grid: (ceil(H / 64), ceil(M / 64)); a 16x16 workgroup computes a 64x64 block of h (4x4 per
// invocation) from K slices of 16 staged in workgroup memory: x (64 rows) and the two matching
// 64-column blocks of w (a's and b's), 12 KiB.

struct P {
  m: u32,
  hd: u32, // H
  k: u32,
  has_bias: u32,
  save_ab: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> ab: array<f32>;
@group(0) @binding(5) var<storage, read_write> h: array<f32>;

const TILE: u32 = 64u;
const SLICE: u32 = 16u;
var<workgroup> tile_x: array<f32, 1024>; // [kk][row]
var<workgroup> tile_a: array<f32, 1024>; // [kk][col]: rows col of w
var<workgroup> tile_b: array<f32, 1024>; // [kk][col]: rows H + col of w

fn sigmoid(v: f32) -> f32 {
  return 1.0 / (1.0 + exp(-v));
}

fn load_x(row: u32, kk: u32) -> f32 {
  if (row >= p.m || kk >= p.k) { return 0.0; }
  return x[row * p.k + kk];
}

// Row `wrow` of w (an output column of the product), entry kk; zero past the H columns of its
// half (`col` is the column within the half).
fn load_w(wrow: u32, col: u32, kk: u32) -> f32 {
  if (col >= p.hd || kk >= p.k) { return 0.0; }
  return w[wrow * p.k + kk];
}

@compute @workgroup_size(16, 16)
fn matmul_swiglu(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row_base = wg.y * TILE;
  let col_base = wg.x * TILE;
  let t = lid.y * 16u + lid.x;
  var acc_a: array<vec4f, 4>;
  var acc_b: array<vec4f, 4>;
  for (var k0 = 0u; k0 < p.k; k0 += SLICE) {
    for (var i = 0u; i < 4u; i++) {
      let e = t + i * 256u;
      let r = e / SLICE; // row of x, or column of the half (both contiguous along k)
      let kk = e % SLICE;
      tile_x[kk * TILE + r] = load_x(row_base + r, k0 + kk);
      let col = col_base + r;
      tile_a[kk * TILE + r] = load_w(col, col, k0 + kk);
      tile_b[kk * TILE + r] = load_w(p.hd + col, col, k0 + kk);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < SLICE; kk++) {
      let o = kk * TILE;
      let xv = vec4f(tile_x[o + lid.y * 4u], tile_x[o + lid.y * 4u + 1u],
        tile_x[o + lid.y * 4u + 2u], tile_x[o + lid.y * 4u + 3u]);
      let av = vec4f(tile_a[o + lid.x * 4u], tile_a[o + lid.x * 4u + 1u],
        tile_a[o + lid.x * 4u + 2u], tile_a[o + lid.x * 4u + 3u]);
      let bv = vec4f(tile_b[o + lid.x * 4u], tile_b[o + lid.x * 4u + 1u],
        tile_b[o + lid.x * 4u + 2u], tile_b[o + lid.x * 4u + 3u]);
      for (var i = 0u; i < 4u; i++) {
        acc_a[i] = fma(vec4f(xv[i]), av, acc_a[i]);
        acc_b[i] = fma(vec4f(xv[i]), bv, acc_b[i]);
      }
    }
    workgroupBarrier();
  }
  let row0 = row_base + lid.y * 4u;
  let col0 = col_base + lid.x * 4u;
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + i;
    if (row >= p.m) { break; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + j;
      if (col >= p.hd) { break; }
      var a = 1.0 * acc_a[i][j];
      var b = 1.0 * acc_b[i][j];
      if (p.has_bias == 1u) {
        a += bias[col];
        b += bias[p.hd + col];
      }
      if (p.save_ab == 1u) {
        ab[row * 2u * p.hd + col] = a;
        ab[row * 2u * p.hd + p.hd + col] = b;
      }
      h[row * p.hd + col] = a * sigmoid(a) * b;
    }
  }
}
