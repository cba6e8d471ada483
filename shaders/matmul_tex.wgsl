// Matmul reading its operands through rgba32float textures: on CPU drivers (lavapipe) a
// texel fetch costs ~1 ns per lane against ~14 ns for a storage-buffer load, so this path is
// ~10x faster there. Two entry points:
//
//   pack: copies a strided (batch, rows, cols) view of a storage buffer into a texture, four
//         columns per texel, zero-padding rows up to rows_pad and columns up to cols_pad*4.
//         Transposed operands are packed by swapping the row/col strides.
//   mm:   C[batch] = alpha * A[batch] B[batch] (+ bias) (+ C), A packed as (M, K), B as (K, N).
//         Each invocation computes an 8 x 16 register tile (8 rows, 4 texels of columns).
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

@compute @workgroup_size(8, 8)
fn mm(@builtin(global_invocation_id) gid: vec3u) {
  let t0 = gid.x * 4u;          // first texel column of this tile
  let row0 = gid.y * 8u;
  if (t0 * 4u >= p.n || row0 >= p.m) { return; }
  let arow = gid.z * p.m_pad + row0;
  let brow = gid.z * p.k_pad;
  var acc: array<array<vec4f, 4>, 8>;
  let k4 = p.k_pad / 4u;
  for (var kk = 0u; kk < k4; kk++) {
    var av: array<vec4f, 8>;
    for (var i = 0u; i < 8u; i++) {
      av[i] = textureLoad(ta, vec2u(kk, arow + i), 0);
    }
    for (var s = 0u; s < 4u; s++) {
      let kr = brow + kk * 4u + s;
      let b0 = textureLoad(tb, vec2u(t0, kr), 0);
      let b1 = textureLoad(tb, vec2u(t0 + 1u, kr), 0);
      let b2 = textureLoad(tb, vec2u(t0 + 2u, kr), 0);
      let b3 = textureLoad(tb, vec2u(t0 + 3u, kr), 0);
      for (var i = 0u; i < 8u; i++) {
        let aik = av[i][s];
        acc[i][0] = fma(vec4f(aik), b0, acc[i][0]);
        acc[i][1] = fma(vec4f(aik), b1, acc[i][1]);
        acc[i][2] = fma(vec4f(aik), b2, acc[i][2]);
        acc[i][3] = fma(vec4f(aik), b3, acc[i][3]);
      }
    }
  }
  let cb = p.c_offset + gid.z * p.c_batch_stride;
  for (var i = 0u; i < 8u; i++) {
    let row = row0 + i;
    if (row >= p.m) { break; }
    for (var j = 0u; j < 16u; j++) {
      let col = t0 * 4u + j;
      if (col >= p.n) { break; }
      var v = p.alpha * acc[i][j / 4u][j % 4u];
      if (p.has_bias == 1u) { v += bias[col]; }
      let idx = cb + row * p.n + col;
      if (p.accumulate == 1u) { v += c[idx]; }
      c[idx] = v;
    }
  }
}
