// Data movement: embedding lookup and its gradient, gathering rows by index (compaction of
// kept particles before an encoder and the inverse, putting rows back), copies of column
// blocks (concat / split on the last axis), per-row exclusive prefix sums of a boolean mask,
// and masked sums / means over the set axis.
//
// Bindings (group 0):
//   0 p      uniform  P
//   1 src    read     array<f32>  input rows / table / upstream gradient
//   2 idx    read     array<i32>  ids or row indices (-1 = none)
//   3 mask   read     array<u32>  (batch, n) boolean mask
//   4 out    rw       array<f32>  result
//   5 rank   rw       array<i32>  mask_scan: (batch, n) rank among set entries, -1 elsewhere
//   6 fwd    rw       array<i32>  mask_scan: (batch, n_out) flat index of the j-th set entry, -1 past the count
//   7 inv    rw       array<i32>  mask_scan: (batch, n) flat index into (batch, n_out), -1 when unset
//   8 count  rw       array<u32>  (batch) number of set entries
// Grid: one invocation per output element (mask_scan and mask_count: per row), 64 per
// workgroup, x/y folded.
//
// Above the storage binding limit the wrapper binds segments of whole rows; a gather whose
// source is too large to bind whole runs once per source window [src_lo, src_hi) with
// window = 1, and writes (accumulates) only the rows whose index falls inside the window.

struct P {
  rows: u32,        // output rows (embedding, gather, copy) or batch (scan, masked sums)
  cols: u32,        // row width
  vocab: u32,       // embedding rows / source rows
  n: u32,           // set size (scan, masked sums)
  n_out: u32,       // compacted set size (scan)
  src_stride: u32,  // copy_cols
  src_offset: u32,
  dst_stride: u32,
  dst_offset: u32,
  mean: u32,        // masked sums: divide by the count
  accumulate: u32,  // out += result
  window: u32,      // gather_rows: only indices in [src_lo, src_hi), read at index - src_lo
  src_lo: u32,
  src_hi: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> rank: array<i32>;
@group(0) @binding(6) var<storage, read_write> fwd: array<i32>;
@group(0) @binding(7) var<storage, read_write> inv: array<i32>;
@group(0) @binding(8) var<storage, read_write> count: array<u32>;

fn put(i: u32, v: f32) {
  if (p.accumulate == 1u) { out[i] += v; } else { out[i] = v; }
}

// out[r, c] = table[ids[r], c]; ids outside [0, vocab) give 0.
@compute @workgroup_size(FLAT_WG)
fn embedding_fwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.rows * p.cols) { return; }
  let r = i / p.cols;
  let c = i - r * p.cols;
  let id = idx[r];
  var v = 0.0;
  if (id >= 0 && u32(id) < p.vocab) { v = src[u32(id) * p.cols + c]; }
  out[i] = v;
}

// dtable[v, c] = sum_r [ids[r] == v] dout[r, c]; one invocation per table entry (small vocab).
// Here p.rows = number of ids, output is (vocab, cols).
@compute @workgroup_size(FLAT_WG)
fn embedding_bwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.vocab * p.cols) { return; }
  let v = i / p.cols;
  let c = i - v * p.cols;
  var s = 0.0;
  for (var r = 0u; r < p.rows; r++) {
    if (idx[r] == i32(v)) { s += src[r * p.cols + c]; }
  }
  put(i, s);
}

// out[r, c] = src[idx[r], c], or 0 when idx[r] < 0.
@compute @workgroup_size(FLAT_WG)
fn gather_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.rows * p.cols) { return; }
  let r = i / p.cols;
  let c = i - r * p.cols;
  let j = idx[r];
  if (p.window == 1u) {
    if (j < i32(p.src_lo) || j >= i32(p.src_hi)) { return; }
    put(i, src[(u32(j) - p.src_lo) * p.cols + c]);
    return;
  }
  var v = 0.0;
  if (j >= 0) { v = src[u32(j) * p.cols + c]; }
  put(i, v);
}

// out[r * dst_stride + dst_offset + c] = src[r * src_stride + src_offset + c], c < cols.
@compute @workgroup_size(FLAT_WG)
fn copy_cols(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.rows * p.cols) { return; }
  let r = i / p.cols;
  let c = i - r * p.cols;
  put(r * p.dst_stride + p.dst_offset + c, src[r * p.src_stride + p.src_offset + c]);
}

// Per row b: exclusive prefix sum of mask over n entries, compaction and inverse indices.
@compute @workgroup_size(FLAT_WG)
fn mask_scan(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = flat_index(gid, nwg);
  if (b >= p.rows) { return; }
  var cnt = 0u;
  for (var j = 0u; j < p.n; j++) {
    let e = b * p.n + j;
    if (mask[e] != 0u) {
      rank[e] = i32(cnt);
      if (cnt < p.n_out) {
        fwd[b * p.n_out + cnt] = i32(e);
        inv[e] = i32(b * p.n_out + cnt);
      } else {
        inv[e] = -1;
      }
      cnt++;
    } else {
      rank[e] = -1;
      inv[e] = -1;
    }
  }
  for (var j = cnt; j < p.n_out; j++) { fwd[b * p.n_out + j] = -1; }
  count[b] = cnt;
}

// count[b] = number of set entries in row b.
@compute @workgroup_size(FLAT_WG)
fn mask_count(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = flat_index(gid, nwg);
  if (b >= p.rows) { return; }
  var cnt = 0u;
  for (var j = 0u; j < p.n; j++) {
    if (mask[b * p.n + j] != 0u) { cnt++; }
  }
  count[b] = cnt;
}

// out[b, c] = sum_j mask[b, j] src[b, j, c] (/ count[b] when mean; 0 for an empty row).
@compute @workgroup_size(FLAT_WG)
fn masked_sum(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.rows * p.cols) { return; }
  let b = i / p.cols;
  let c = i - b * p.cols;
  var s = 0.0;
  for (var j = 0u; j < p.n; j++) {
    if (mask[b * p.n + j] != 0u) { s += src[(b * p.n + j) * p.cols + c]; }
  }
  if (p.mean == 1u) { s = select(0.0, s / f32(count[b]), count[b] > 0u); }
  put(i, s);
}

// out[b, j, c] = mask[b, j] ? dout[b, c] (/ count[b]) : 0.
@compute @workgroup_size(FLAT_WG)
fn masked_sum_bwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.rows * p.n * p.cols) { return; }
  let c = i % p.cols;
  let e = i / p.cols;
  let b = e / p.n;
  var v = 0.0;
  if (mask[e] != 0u) {
    v = src[b * p.cols + c];
    if (p.mean == 1u) { v /= f32(count[b]); }
  }
  put(i, v);
}
