// Column reductions: out[c] = sum_r x[r, c] (* y[r, c] when PRODUCT), in two stages so that
// every stage has enough parallel work. Also the scalar ratio used by masked means.
//
// Bindings (group 0):
//   0 p        uniform  P
//   1 x        read     array<f32>  (rows, cols)
//   2 y        read     array<f32>  (rows, cols), only read when PRODUCT
//   3 partial  rw       array<f32>  (chunks, cols) stage-1 sums
//   4 out      rw       array<f32>  (cols) result; accumulated into when p.accumulate == 1
// Stage 1 grid: one invocation per (chunk, col); stage 2: one invocation per col.

override PRODUCT: bool = false;

struct P {
  rows: u32,
  cols: u32,
  chunk_rows: u32,   // rows summed by one stage-1 invocation
  chunks: u32,       // ceil(rows / chunk_rows)
  accumulate: u32,   // stage 2: out[c] += sum instead of out[c] = sum
  alpha: f32,        // stage 2: scale applied to the sum
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(FLAT_WG)
fn colsum_partial(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.chunks * p.cols) { return; }
  let chunk = i / p.cols;
  let c = i - chunk * p.cols;
  let r0 = chunk * p.chunk_rows;
  let r1 = min(r0 + p.chunk_rows, p.rows);
  var s = 0.0;
  for (var r = r0; r < r1; r++) {
    let k = r * p.cols + c;
    if (PRODUCT) { s += x[k] * y[k]; } else { s += x[k]; }
  }
  partial[i] = s;
}

@compute @workgroup_size(FLAT_WG)
fn colsum_final(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let c = flat_index(gid, nwg);
  if (c >= p.cols) { return; }
  var s = 0.0;
  for (var k = 0u; k < p.chunks; k++) {
    s += partial[k * p.cols + c];
  }
  s *= p.alpha;
  if (p.accumulate == 1u) { s += out[c]; }
  out[c] = s;
}

// out[0] = x[0] / x[1], or 0 when x[1] == 0 (a masked mean with no real entries).
@compute @workgroup_size(1)
fn ratio() {
  let w = x[1];
  out[0] = select(0.0, x[0] / w, w != 0.0);
}
