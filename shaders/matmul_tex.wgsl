// Matmul reading its operands through rgba32float textures: on CPU drivers (lavapipe) a
// texel fetch costs ~1 ns per lane against ~14 ns for a storage-buffer load, so this path is
// ~10x faster there. Two entry points:
//
//   pack: copies a strided (batch, rows, cols) view of a storage buffer into a texture, four
//         columns per texel, zero-padding rows up to rows_pad and columns up to cols_pad*4.
//         Transposed operands are packed by swapping the row/col strides.
//   mm:   C[batch] = alpha * A[batch] B[batch] (+ bias) (+ C), A packed as (M, K), B as (K, N).
//         Each invocation computes an 8 x 16 register tile (8 rows, 4 texels of columns).
// The host splits large problems into chunks (rows of A, columns of B, K with accumulation,
// batches) so that textures stay within 16384 rows and every bound buffer range stays within
// maxStorageBufferBindingSize; src/c are bound as aligned sub-ranges of the tensors.
//
// Bindings (group 0):
//   0 p     uniform                     P
//   1 src   read     array<f32>         pack: source buffer
//   2 bias  read     array<f32>         mm: (N), read when p.has_bias == 1
//   3 c     rw       array<f32>         mm: (batch, M, N) output
//   4 dst   storage-texture rgba32f     pack: destination
//   5 ta    texture  rgba32f            mm: A, texel (k/4, batch*m_pad + m)
//   6 tb    texture  rgba32f            mm: B, texel (n/4, batch*k_pad + k)
// Grid: pack: 8x8 workgroups over (texel col, row), z = batch; mm: 8x8 over (col tile, row tile), z = batch.

struct P {
  // pack
  rows: u32,
  cols: u32,
  row_stride: u32,
  col_stride: u32,
  batch_stride: u32,
  src_offset: u32,
  rows_pad: u32,   // texture rows per batch
  cols_pad4: u32,  // texels per row written
  // mm
  m: u32,
  n: u32,
  k: u32,
  m_pad: u32,
  k_pad: u32,
  has_bias: u32,
  accumulate: u32,
  alpha: f32,
  c_offset: u32,       // first element of C written by this dispatch
  c_batch_stride: u32, // elements between batches of C
  ldc: u32,            // elements between rows of C (>= n when N is chunked)
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var dst: texture_storage_2d<rgba32float, write>;
@group(0) @binding(5) var ta: texture_2d<f32>;
@group(0) @binding(6) var tb: texture_2d<f32>;

fn elem(base: u32, r: u32, col: u32) -> f32 {
  if (r >= p.rows || col >= p.cols) { return 0.0; }
  return src[base + r * p.row_stride + col * p.col_stride];
}

@compute @workgroup_size(8, 8)
fn pack(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.x;
  let r = gid.y;
  if (t >= p.cols_pad4 || r >= p.rows_pad) { return; }
  let base = p.src_offset + gid.z * p.batch_stride;
  let c0 = t * 4u;
  let v = vec4f(elem(base, r, c0), elem(base, r, c0 + 1u), elem(base, r, c0 + 2u), elem(base, r, c0 + 3u));
  textureStore(dst, vec2u(t, gid.z * p.rows_pad + r), v);
}

// Stores four consecutive columns of one output row with bias, accumulate and bounds checks.
fn store4(row: u32, col0: u32, v: vec4f, cb: u32) {
  if (row >= p.m) { return; }
  for (var j = 0u; j < 4u; j++) {
    let col = col0 + j;
    if (col >= p.n) { return; }
    var r = p.alpha * v[j];
    if (p.has_bias == 1u) { r += bias[col]; }
    let idx = cb + row * p.ldc + col;
    if (p.accumulate == 1u) { r += c[idx]; }
    c[idx] = r;
  }
}

// The 8 x 16 register tile is written out unrolled: on llvmpipe, dynamically indexed private
// arrays spill to memory and cost 4-5x.
@compute @workgroup_size(8, 8)
fn mm(@builtin(global_invocation_id) gid: vec3u) {
  let t0 = gid.x * 4u;          // first texel column of this tile
  let row0 = gid.y * 8u;
  if (t0 * 4u >= p.n || row0 >= p.m) { return; }
  let arow = gid.z * p.m_pad + row0;
  let brow = gid.z * p.k_pad;
  var c00 = vec4f(0.0); var c01 = vec4f(0.0); var c02 = vec4f(0.0); var c03 = vec4f(0.0);
  var c10 = vec4f(0.0); var c11 = vec4f(0.0); var c12 = vec4f(0.0); var c13 = vec4f(0.0);
  var c20 = vec4f(0.0); var c21 = vec4f(0.0); var c22 = vec4f(0.0); var c23 = vec4f(0.0);
  var c30 = vec4f(0.0); var c31 = vec4f(0.0); var c32 = vec4f(0.0); var c33 = vec4f(0.0);
  var c40 = vec4f(0.0); var c41 = vec4f(0.0); var c42 = vec4f(0.0); var c43 = vec4f(0.0);
  var c50 = vec4f(0.0); var c51 = vec4f(0.0); var c52 = vec4f(0.0); var c53 = vec4f(0.0);
  var c60 = vec4f(0.0); var c61 = vec4f(0.0); var c62 = vec4f(0.0); var c63 = vec4f(0.0);
  var c70 = vec4f(0.0); var c71 = vec4f(0.0); var c72 = vec4f(0.0); var c73 = vec4f(0.0);
  let k4 = p.k_pad / 4u;
  for (var kk = 0u; kk < k4; kk++) {
    let a0 = textureLoad(ta, vec2u(kk, arow + 0u), 0);
    let a1 = textureLoad(ta, vec2u(kk, arow + 1u), 0);
    let a2 = textureLoad(ta, vec2u(kk, arow + 2u), 0);
    let a3 = textureLoad(ta, vec2u(kk, arow + 3u), 0);
    let a4 = textureLoad(ta, vec2u(kk, arow + 4u), 0);
    let a5 = textureLoad(ta, vec2u(kk, arow + 5u), 0);
    let a6 = textureLoad(ta, vec2u(kk, arow + 6u), 0);
    let a7 = textureLoad(ta, vec2u(kk, arow + 7u), 0);
    {
      let kr = brow + kk * 4u + 0u;
      let b0 = textureLoad(tb, vec2u(t0 + 0u, kr), 0);
      let b1 = textureLoad(tb, vec2u(t0 + 1u, kr), 0);
      let b2 = textureLoad(tb, vec2u(t0 + 2u, kr), 0);
      let b3 = textureLoad(tb, vec2u(t0 + 3u, kr), 0);
      c00 = fma(vec4f(a0.x), b0, c00); c01 = fma(vec4f(a0.x), b1, c01); c02 = fma(vec4f(a0.x), b2, c02); c03 = fma(vec4f(a0.x), b3, c03);
      c10 = fma(vec4f(a1.x), b0, c10); c11 = fma(vec4f(a1.x), b1, c11); c12 = fma(vec4f(a1.x), b2, c12); c13 = fma(vec4f(a1.x), b3, c13);
      c20 = fma(vec4f(a2.x), b0, c20); c21 = fma(vec4f(a2.x), b1, c21); c22 = fma(vec4f(a2.x), b2, c22); c23 = fma(vec4f(a2.x), b3, c23);
      c30 = fma(vec4f(a3.x), b0, c30); c31 = fma(vec4f(a3.x), b1, c31); c32 = fma(vec4f(a3.x), b2, c32); c33 = fma(vec4f(a3.x), b3, c33);
      c40 = fma(vec4f(a4.x), b0, c40); c41 = fma(vec4f(a4.x), b1, c41); c42 = fma(vec4f(a4.x), b2, c42); c43 = fma(vec4f(a4.x), b3, c43);
      c50 = fma(vec4f(a5.x), b0, c50); c51 = fma(vec4f(a5.x), b1, c51); c52 = fma(vec4f(a5.x), b2, c52); c53 = fma(vec4f(a5.x), b3, c53);
      c60 = fma(vec4f(a6.x), b0, c60); c61 = fma(vec4f(a6.x), b1, c61); c62 = fma(vec4f(a6.x), b2, c62); c63 = fma(vec4f(a6.x), b3, c63);
      c70 = fma(vec4f(a7.x), b0, c70); c71 = fma(vec4f(a7.x), b1, c71); c72 = fma(vec4f(a7.x), b2, c72); c73 = fma(vec4f(a7.x), b3, c73);
    }
    {
      let kr = brow + kk * 4u + 1u;
      let b0 = textureLoad(tb, vec2u(t0 + 0u, kr), 0);
      let b1 = textureLoad(tb, vec2u(t0 + 1u, kr), 0);
      let b2 = textureLoad(tb, vec2u(t0 + 2u, kr), 0);
      let b3 = textureLoad(tb, vec2u(t0 + 3u, kr), 0);
      c00 = fma(vec4f(a0.y), b0, c00); c01 = fma(vec4f(a0.y), b1, c01); c02 = fma(vec4f(a0.y), b2, c02); c03 = fma(vec4f(a0.y), b3, c03);
      c10 = fma(vec4f(a1.y), b0, c10); c11 = fma(vec4f(a1.y), b1, c11); c12 = fma(vec4f(a1.y), b2, c12); c13 = fma(vec4f(a1.y), b3, c13);
      c20 = fma(vec4f(a2.y), b0, c20); c21 = fma(vec4f(a2.y), b1, c21); c22 = fma(vec4f(a2.y), b2, c22); c23 = fma(vec4f(a2.y), b3, c23);
      c30 = fma(vec4f(a3.y), b0, c30); c31 = fma(vec4f(a3.y), b1, c31); c32 = fma(vec4f(a3.y), b2, c32); c33 = fma(vec4f(a3.y), b3, c33);
      c40 = fma(vec4f(a4.y), b0, c40); c41 = fma(vec4f(a4.y), b1, c41); c42 = fma(vec4f(a4.y), b2, c42); c43 = fma(vec4f(a4.y), b3, c43);
      c50 = fma(vec4f(a5.y), b0, c50); c51 = fma(vec4f(a5.y), b1, c51); c52 = fma(vec4f(a5.y), b2, c52); c53 = fma(vec4f(a5.y), b3, c53);
      c60 = fma(vec4f(a6.y), b0, c60); c61 = fma(vec4f(a6.y), b1, c61); c62 = fma(vec4f(a6.y), b2, c62); c63 = fma(vec4f(a6.y), b3, c63);
      c70 = fma(vec4f(a7.y), b0, c70); c71 = fma(vec4f(a7.y), b1, c71); c72 = fma(vec4f(a7.y), b2, c72); c73 = fma(vec4f(a7.y), b3, c73);
    }
    {
      let kr = brow + kk * 4u + 2u;
      let b0 = textureLoad(tb, vec2u(t0 + 0u, kr), 0);
      let b1 = textureLoad(tb, vec2u(t0 + 1u, kr), 0);
      let b2 = textureLoad(tb, vec2u(t0 + 2u, kr), 0);
      let b3 = textureLoad(tb, vec2u(t0 + 3u, kr), 0);
      c00 = fma(vec4f(a0.z), b0, c00); c01 = fma(vec4f(a0.z), b1, c01); c02 = fma(vec4f(a0.z), b2, c02); c03 = fma(vec4f(a0.z), b3, c03);
      c10 = fma(vec4f(a1.z), b0, c10); c11 = fma(vec4f(a1.z), b1, c11); c12 = fma(vec4f(a1.z), b2, c12); c13 = fma(vec4f(a1.z), b3, c13);
      c20 = fma(vec4f(a2.z), b0, c20); c21 = fma(vec4f(a2.z), b1, c21); c22 = fma(vec4f(a2.z), b2, c22); c23 = fma(vec4f(a2.z), b3, c23);
      c30 = fma(vec4f(a3.z), b0, c30); c31 = fma(vec4f(a3.z), b1, c31); c32 = fma(vec4f(a3.z), b2, c32); c33 = fma(vec4f(a3.z), b3, c33);
      c40 = fma(vec4f(a4.z), b0, c40); c41 = fma(vec4f(a4.z), b1, c41); c42 = fma(vec4f(a4.z), b2, c42); c43 = fma(vec4f(a4.z), b3, c43);
      c50 = fma(vec4f(a5.z), b0, c50); c51 = fma(vec4f(a5.z), b1, c51); c52 = fma(vec4f(a5.z), b2, c52); c53 = fma(vec4f(a5.z), b3, c53);
      c60 = fma(vec4f(a6.z), b0, c60); c61 = fma(vec4f(a6.z), b1, c61); c62 = fma(vec4f(a6.z), b2, c62); c63 = fma(vec4f(a6.z), b3, c63);
      c70 = fma(vec4f(a7.z), b0, c70); c71 = fma(vec4f(a7.z), b1, c71); c72 = fma(vec4f(a7.z), b2, c72); c73 = fma(vec4f(a7.z), b3, c73);
    }
    {
      let kr = brow + kk * 4u + 3u;
      let b0 = textureLoad(tb, vec2u(t0 + 0u, kr), 0);
      let b1 = textureLoad(tb, vec2u(t0 + 1u, kr), 0);
      let b2 = textureLoad(tb, vec2u(t0 + 2u, kr), 0);
      let b3 = textureLoad(tb, vec2u(t0 + 3u, kr), 0);
      c00 = fma(vec4f(a0.w), b0, c00); c01 = fma(vec4f(a0.w), b1, c01); c02 = fma(vec4f(a0.w), b2, c02); c03 = fma(vec4f(a0.w), b3, c03);
      c10 = fma(vec4f(a1.w), b0, c10); c11 = fma(vec4f(a1.w), b1, c11); c12 = fma(vec4f(a1.w), b2, c12); c13 = fma(vec4f(a1.w), b3, c13);
      c20 = fma(vec4f(a2.w), b0, c20); c21 = fma(vec4f(a2.w), b1, c21); c22 = fma(vec4f(a2.w), b2, c22); c23 = fma(vec4f(a2.w), b3, c23);
      c30 = fma(vec4f(a3.w), b0, c30); c31 = fma(vec4f(a3.w), b1, c31); c32 = fma(vec4f(a3.w), b2, c32); c33 = fma(vec4f(a3.w), b3, c33);
      c40 = fma(vec4f(a4.w), b0, c40); c41 = fma(vec4f(a4.w), b1, c41); c42 = fma(vec4f(a4.w), b2, c42); c43 = fma(vec4f(a4.w), b3, c43);
      c50 = fma(vec4f(a5.w), b0, c50); c51 = fma(vec4f(a5.w), b1, c51); c52 = fma(vec4f(a5.w), b2, c52); c53 = fma(vec4f(a5.w), b3, c53);
      c60 = fma(vec4f(a6.w), b0, c60); c61 = fma(vec4f(a6.w), b1, c61); c62 = fma(vec4f(a6.w), b2, c62); c63 = fma(vec4f(a6.w), b3, c63);
      c70 = fma(vec4f(a7.w), b0, c70); c71 = fma(vec4f(a7.w), b1, c71); c72 = fma(vec4f(a7.w), b2, c72); c73 = fma(vec4f(a7.w), b3, c73);
    }
  }
  let cb = p.c_offset + gid.z * p.c_batch_stride;
  store4(row0 + 0u, (t0 + 0u) * 4u, c00, cb);
  store4(row0 + 0u, (t0 + 1u) * 4u, c01, cb);
  store4(row0 + 0u, (t0 + 2u) * 4u, c02, cb);
  store4(row0 + 0u, (t0 + 3u) * 4u, c03, cb);
  store4(row0 + 1u, (t0 + 0u) * 4u, c10, cb);
  store4(row0 + 1u, (t0 + 1u) * 4u, c11, cb);
  store4(row0 + 1u, (t0 + 2u) * 4u, c12, cb);
  store4(row0 + 1u, (t0 + 3u) * 4u, c13, cb);
  store4(row0 + 2u, (t0 + 0u) * 4u, c20, cb);
  store4(row0 + 2u, (t0 + 1u) * 4u, c21, cb);
  store4(row0 + 2u, (t0 + 2u) * 4u, c22, cb);
  store4(row0 + 2u, (t0 + 3u) * 4u, c23, cb);
  store4(row0 + 3u, (t0 + 0u) * 4u, c30, cb);
  store4(row0 + 3u, (t0 + 1u) * 4u, c31, cb);
  store4(row0 + 3u, (t0 + 2u) * 4u, c32, cb);
  store4(row0 + 3u, (t0 + 3u) * 4u, c33, cb);
  store4(row0 + 4u, (t0 + 0u) * 4u, c40, cb);
  store4(row0 + 4u, (t0 + 1u) * 4u, c41, cb);
  store4(row0 + 4u, (t0 + 2u) * 4u, c42, cb);
  store4(row0 + 4u, (t0 + 3u) * 4u, c43, cb);
  store4(row0 + 5u, (t0 + 0u) * 4u, c50, cb);
  store4(row0 + 5u, (t0 + 1u) * 4u, c51, cb);
  store4(row0 + 5u, (t0 + 2u) * 4u, c52, cb);
  store4(row0 + 5u, (t0 + 3u) * 4u, c53, cb);
  store4(row0 + 6u, (t0 + 0u) * 4u, c60, cb);
  store4(row0 + 6u, (t0 + 1u) * 4u, c61, cb);
  store4(row0 + 6u, (t0 + 2u) * 4u, c62, cb);
  store4(row0 + 6u, (t0 + 3u) * 4u, c63, cb);
  store4(row0 + 7u, (t0 + 0u) * 4u, c70, cb);
  store4(row0 + 7u, (t0 + 1u) * 4u, c71, cb);
  store4(row0 + 7u, (t0 + 2u) * 4u, c72, cb);
  store4(row0 + 7u, (t0 + 3u) * 4u, c73, cb);
}
