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
// Grid: workgroup 8x8 invocations, each computing a 4x4 tile of C; z = batch. `matmul_tiled`
// (below) stages 64x64 tiles in workgroup memory for large problems, `matmul_tiled128` 128x128
// tiles with 8x8 outputs per invocation and register double buffering for the largest;
// `matmul_tiled_vec4` and `matmul_tiled128_vec4` are the last two with vec4 global loads.
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
// The same operands seen as vec4s, for the `_vec4` entry points alone (no entry point uses both
// views of a binding). Valid when each operand's contiguous dimension is a multiple of 4.
@group(0) @binding(1) var<storage, read> a4: array<vec4f>;
@group(0) @binding(2) var<storage, read> b4: array<vec4f>;

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

// Epilogue of both kernels: the 4x4 tile at (row0, col0) of batch offset bc, scaled, with the
// bias and accumulation, cut at the matrix edges.
fn store_tile(acc: array<vec4f, 4>, row0: u32, col0: u32, bc: u32) {
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
  store_tile(acc, row0, col0, batch * p.stride_c);
}

// Shared-memory tiled variant for discrete GPUs: a 16x16 workgroup computes a 64x64 tile of C
// (4x4 outputs per invocation); K is walked in slices of 16 staged in workgroup memory, so each
// operand element is read from global memory once per tile instead of once per invocation row.
// Loads are coalesced along the operand's contiguous dimension (k, or m/n when transposed).
// Grid: (ceil(N / 64), ceil(M / 64), batch). Same bindings and uniforms as `matmul`.
const TILE: u32 = 64u;
const SLICE: u32 = 16u;
var<workgroup> tile_a: array<f32, 1024>; // [kk][row], SLICE x TILE
var<workgroup> tile_b: array<f32, 1024>; // [kk][col], SLICE x TILE

// The 16 rank-1 updates of one staged slice into invocation lid's 4x4 outputs.
fn tile_slice_fma(acc: ptr<function, array<vec4f, 4>>, lid: vec3u) {
  for (var kk = 0u; kk < SLICE; kk++) {
    let o = kk * TILE;
    let bv = vec4f(tile_b[o + lid.x * 4u], tile_b[o + lid.x * 4u + 1u],
      tile_b[o + lid.x * 4u + 2u], tile_b[o + lid.x * 4u + 3u]);
    let av = vec4f(tile_a[o + lid.y * 4u], tile_a[o + lid.y * 4u + 1u],
      tile_a[o + lid.y * 4u + 2u], tile_a[o + lid.y * 4u + 3u]);
    (*acc)[0] = fma(vec4f(av.x), bv, (*acc)[0]);
    (*acc)[1] = fma(vec4f(av.y), bv, (*acc)[1]);
    (*acc)[2] = fma(vec4f(av.z), bv, (*acc)[2]);
    (*acc)[3] = fma(vec4f(av.w), bv, (*acc)[3]);
  }
}

@compute @workgroup_size(16, 16)
fn matmul_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
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
    tile_slice_fma(&acc, lid);
    workgroupBarrier();
  }
  let row0 = row_base + lid.y * 4u;
  let col0 = col_base + lid.x * 4u;
  store_tile(acc, row0, col0, batch * p.stride_c);
}

// Large-tile variant for big problems on discrete GPUs: a 16x16 workgroup computes a 128x128
// tile of C, 8x8 outputs per invocation (rows ty*4..+3 and 64+ty*4..+3, columns likewise, so
// neighbouring invocations read neighbouring vec4s of workgroup memory). K is walked in slices
// of 8; the next slice is loaded into registers while the current one is multiplied (register
// double buffering: one barrier pair per slice, global loads in flight during the FMAs). The
// staged tiles are read as vec4s. 2 x 4 KiB of workgroup memory.
// Grid: (ceil(N / 128), ceil(M / 128), batch). Same bindings and uniforms as `matmul`.
const BIG: u32 = 128u;
const BIG_SLICE: u32 = 8u;
var<workgroup> big_a: array<vec4f, 256>; // [kk][row / 4], BIG_SLICE x BIG
var<workgroup> big_b: array<vec4f, 256>; // [kk][col / 4]

// Slice coordinates (k, row) of A's element e in [0, 1024), contiguous along A's storage.
fn big_a_at(e: u32) -> vec2u {
  if (TRANS_A) { return vec2u(e / BIG, e % BIG); }
  return vec2u(e % BIG_SLICE, e / BIG_SLICE);
}

// Slice coordinates (k, col) of B's element e.
fn big_b_at(e: u32) -> vec2u {
  if (TRANS_B) { return vec2u(e % BIG_SLICE, e / BIG_SLICE); }
  return vec2u(e / BIG, e % BIG);
}

// The 8 rank-1 updates of one staged slice into invocation lid's 8x8 outputs.
fn big_slice_fma(acc: ptr<function, array<vec4f, 16>>, lid: vec3u) {
  for (var kk = 0u; kk < BIG_SLICE; kk++) {
    let a0 = big_a[kk * 32u + lid.y];
    let a1 = big_a[kk * 32u + 16u + lid.y];
    let b0 = big_b[kk * 32u + lid.x];
    let b1 = big_b[kk * 32u + 16u + lid.x];
    for (var r = 0u; r < 4u; r++) {
      (*acc)[r * 2u] = fma(vec4f(a0[r]), b0, (*acc)[r * 2u]);
      (*acc)[r * 2u + 1u] = fma(vec4f(a0[r]), b1, (*acc)[r * 2u + 1u]);
      (*acc)[8u + r * 2u] = fma(vec4f(a1[r]), b0, (*acc)[8u + r * 2u]);
      (*acc)[8u + r * 2u + 1u] = fma(vec4f(a1[r]), b1, (*acc)[8u + r * 2u + 1u]);
    }
  }
}

// Epilogue of the 128x128 kernels: the four 4x4 blocks at (row0, col0), 64 rows and 64 columns
// apart.
fn big_store(acc: array<vec4f, 16>, row0: u32, col0: u32, bc: u32) {
  store_tile(array(acc[0], acc[2], acc[4], acc[6]), row0, col0, bc);
  store_tile(array(acc[1], acc[3], acc[5], acc[7]), row0, col0 + 64u, bc);
  store_tile(array(acc[8], acc[10], acc[12], acc[14]), row0 + 64u, col0, bc);
  store_tile(array(acc[9], acc[11], acc[13], acc[15]), row0 + 64u, col0 + 64u, bc);
}

@compute @workgroup_size(16, 16)
fn matmul_tiled128(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row_base = wg.y * BIG;
  let col_base = wg.x * BIG;
  let batch = wg.z;
  let ba = batch * p.stride_a;
  let bb = batch * p.stride_b;
  let t = lid.y * 16u + lid.x;
  var ra: array<f32, 4>;
  var rb: array<f32, 4>;
  for (var i = 0u; i < 4u; i++) {
    let ea = big_a_at(t + i * 256u);
    ra[i] = load_a(ba, row_base + ea.y, ea.x);
    let eb = big_b_at(t + i * 256u);
    rb[i] = load_b(bb, eb.x, col_base + eb.y);
  }
  var acc: array<vec4f, 16>; // [half_row * 8 + r * 2 + half_col]
  for (var k0 = 0u; k0 < p.k; k0 += BIG_SLICE) {
    for (var i = 0u; i < 4u; i++) {
      let ea = big_a_at(t + i * 256u);
      big_a[ea.x * 32u + ea.y / 4u][ea.y % 4u] = ra[i];
      let eb = big_b_at(t + i * 256u);
      big_b[eb.x * 32u + eb.y / 4u][eb.y % 4u] = rb[i];
    }
    workgroupBarrier();
    let next = k0 + BIG_SLICE;
    if (next < p.k) {
      for (var i = 0u; i < 4u; i++) {
        let ea = big_a_at(t + i * 256u);
        ra[i] = load_a(ba, row_base + ea.y, next + ea.x);
        let eb = big_b_at(t + i * 256u);
        rb[i] = load_b(bb, next + eb.x, col_base + eb.y);
      }
    }
    big_slice_fma(&acc, lid);
    workgroupBarrier();
  }
  big_store(acc, row_base + lid.y * 4u, col_base + lid.x * 4u, batch * p.stride_c);
}

// Four consecutive elements of A along its storage (k..k+3 of `row`, or rows row..row+3 of k when
// TRANS_A), zero outside the matrix. The contiguous dimension is a multiple of 4, so a vec4 lies
// wholly inside or wholly outside.
fn load_a4(base: u32, row: u32, kk: u32) -> vec4f {
  if (row >= p.m || kk >= p.k) { return vec4f(0.0); }
  if (TRANS_A) { return a4[(base + kk * p.m + row) / 4u]; }
  return a4[(base + row * p.k + kk) / 4u];
}

// Four consecutive elements of B along its storage (cols col..col+3 of k, or k..k+3 of `col`
// when TRANS_B).
fn load_b4(base: u32, kk: u32, col: u32) -> vec4f {
  if (col >= p.n || kk >= p.k) { return vec4f(0.0); }
  if (TRANS_B) { return b4[(base + col * p.k + kk) / 4u]; }
  return b4[(base + kk * p.n + col) / 4u];
}

// `matmul_tiled128` with vec4 global loads: each of the 256 invocations fetches elements
// 4t..4t+3 of each operand's slice (contiguous in storage) with one load instead of four scalar
// ones, which cuts load instructions fourfold and lets a discrete GPU issue 16-byte
// transactions. Chosen by the host when A's and B's contiguous dimensions (K or M for A, N or K
// for B) are multiples of 4; the arithmetic, and so the result, is that of `matmul_tiled128`.
@compute @workgroup_size(16, 16)
fn matmul_tiled128_vec4(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row_base = wg.y * BIG;
  let col_base = wg.x * BIG;
  let batch = wg.z;
  let ba = batch * p.stride_a;
  let bb = batch * p.stride_b;
  let t = lid.y * 16u + lid.x;
  // Slice coordinates of this invocation's first element; the next three follow in storage.
  let ea = big_a_at(4u * t);
  let eb = big_b_at(4u * t);
  var ra = load_a4(ba, row_base + ea.y, ea.x);
  var rb = load_b4(bb, eb.x, col_base + eb.y);
  var acc: array<vec4f, 16>; // [half_row * 8 + r * 2 + half_col]
  for (var k0 = 0u; k0 < p.k; k0 += BIG_SLICE) {
    for (var j = 0u; j < 4u; j++) {
      let sa = big_a_at(4u * t + j);
      big_a[sa.x * 32u + sa.y / 4u][sa.y % 4u] = ra[j];
      let sb = big_b_at(4u * t + j);
      big_b[sb.x * 32u + sb.y / 4u][sb.y % 4u] = rb[j];
    }
    workgroupBarrier();
    let next = k0 + BIG_SLICE;
    if (next < p.k) {
      ra = load_a4(ba, row_base + ea.y, next + ea.x);
      rb = load_b4(bb, next + eb.x, col_base + eb.y);
    }
    big_slice_fma(&acc, lid);
    workgroupBarrier();
  }
  big_store(acc, row_base + lid.y * 4u, col_base + lid.x * 4u, batch * p.stride_c);
}

// `matmul_tiled` with vec4 global loads (as `matmul_tiled128_vec4`): invocation t fetches
// elements 4t..4t+3 of each operand's 64x16 slice, contiguous in storage, with one load.
@compute @workgroup_size(16, 16)
fn matmul_tiled_vec4(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row_base = wg.y * TILE;
  let col_base = wg.x * TILE;
  let batch = wg.z;
  let ba = batch * p.stride_a;
  let bb = batch * p.stride_b;
  let t = lid.y * 16u + lid.x;
  let e = 4u * t;
  // Slice coordinates of this invocation's first element of A (k, row) and of B (k, col).
  var ea = vec2u(e % SLICE, e / SLICE);
  if (TRANS_A) { ea = vec2u(e / TILE, e % TILE); }
  var eb = vec2u(e / TILE, e % TILE);
  if (TRANS_B) { eb = vec2u(e % SLICE, e / SLICE); }
  var acc: array<vec4f, 4>;
  for (var k0 = 0u; k0 < p.k; k0 += SLICE) {
    let va = load_a4(ba, row_base + ea.y, k0 + ea.x);
    let vb = load_b4(bb, k0 + eb.x, col_base + eb.y);
    for (var j = 0u; j < 4u; j++) {
      // Element j lies one step further along the operand's contiguous dimension.
      if (TRANS_A) { tile_a[ea.x * TILE + ea.y + j] = va[j]; }
      else { tile_a[(ea.x + j) * TILE + ea.y] = va[j]; }
      if (TRANS_B) { tile_b[(eb.x + j) * TILE + eb.y] = vb[j]; }
      else { tile_b[eb.x * TILE + eb.y + j] = vb[j]; }
    }
    workgroupBarrier();
    tile_slice_fma(&acc, lid);
    workgroupBarrier();
  }
  let row0 = row_base + lid.y * 4u;
  let col0 = col_base + lid.x * 4u;
  store_tile(acc, row0, col0, batch * p.stride_c);
}
