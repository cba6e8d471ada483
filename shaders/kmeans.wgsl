// K-Means on the GPU: assignment (nearest centroid of each point) and update (mean of each
// centroid's points). The update reads the points grouped by cluster (a counting sort of the
// assignment done on the host), so every sum has a fixed order: fits are reproducible, with no
// float atomics.
//
// Bindings (group 0):
//   0 p          uniform  P
//   1 x          read     array<f32>  (n, dim) points
//   2 centroids  read     array<f32>  (k, dim)
//   3 order      read     array<u32>  (n) point indices grouped by cluster
//   4 offsets    read     array<u32>  (k + 1) start of each cluster's group in `order`
//   5 assign     rw       array<i32>  (n) nearest centroid
//   6 dist       rw       array<f32>  (n) squared distance to it
//   7 updated    rw       array<f32>  (k, dim) new centroids (an empty cluster keeps its old one)
// Grid: assign: one invocation per point; update: one per (centroid, dim). 64 per workgroup,
// x/y folded.

struct P {
  n: u32,
  k: u32,
  dim: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> centroids: array<f32>;
@group(0) @binding(3) var<storage, read> order: array<u32>;
@group(0) @binding(4) var<storage, read> offsets: array<u32>;
@group(0) @binding(5) var<storage, read_write> assign: array<i32>;
@group(0) @binding(6) var<storage, read_write> dist: array<f32>;
@group(0) @binding(7) var<storage, read_write> updated: array<f32>;

@compute @workgroup_size(FLAT_WG)
fn kmeans_assign(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  var xv: array<f32, 32>;
  for (var d = 0u; d < p.dim; d++) { xv[d] = x[i * p.dim + d]; }
  var best = 3.0e38;
  var arg = 0;
  for (var c = 0u; c < p.k; c++) {
    var s = 0.0;
    for (var d = 0u; d < p.dim; d++) {
      let t = xv[d] - centroids[c * p.dim + d];
      s += t * t;
    }
    if (s < best) {
      best = s;
      arg = i32(c);
    }
  }
  assign[i] = arg;
  dist[i] = best;
}

@compute @workgroup_size(FLAT_WG)
fn kmeans_update(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = flat_index(gid, nwg);
  if (j >= p.k * p.dim) { return; }
  let c = j / p.dim;
  let d = j - c * p.dim;
  let a = offsets[c];
  let b = offsets[c + 1u];
  if (b == a) {
    updated[j] = centroids[j];
    return;
  }
  var s = 0.0;
  for (var q = a; q < b; q++) { s += x[order[q] * p.dim + d]; }
  updated[j] = s / f32(b - a);
}
