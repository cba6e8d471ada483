// EMA update of a cosine-similarity VQ codebook (no gradients reach the codebook): for each code
// k, with the batch's projected vectors z_i (normalised here) assigned to k,
//   size_k <- decay * size_k + (1 - decay) * count_k
//   avg_k  <- decay * avg_k  + (1 - decay) * sum_{i -> k} z_i / |z_i|
// A code whose size falls below `threshold` is dead: it is replaced by a batch vector picked by
// an integer hash of (k, seed), with size = threshold and avg = threshold * z/|z| (the
// reference's dead-code expiry). The code is avg_k / |avg_k| (cosine codebook: direction only).
// One invocation per code loops over the batch: no float atomics, so updates are reproducible.
//
// Bindings (group 0):
//   0 p         uniform  P
//   1 z         read     array<f32>  (n, dim) projected vectors, dim <= 64
//   2 assign    read     array<i32>  (n) code of each vector
//   3 size      rw       array<f32>  (k) EMA cluster sizes (updated in place)
//   4 avg       rw       array<f32>  (k, dim) EMA sums (updated in place)
//   5 codebook  rw       array<f32>  (k, dim) unit codes (written)
// Grid: one invocation per code, 64 per workgroup.

struct P {
  n: u32,
  k: u32,
  dim: u32,
  seed: u32,
  decay: f32,
  threshold: f32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> assign: array<i32>;
@group(0) @binding(3) var<storage, read_write> size: array<f32>;
@group(0) @binding(4) var<storage, read_write> avg: array<f32>;
@group(0) @binding(5) var<storage, read_write> codebook: array<f32>;

// Integer hash (a 32-bit finaliser); the TypeScript reference mirrors it bit for bit.
fn mix(v: u32) -> u32 {
  var h = v;
  h ^= h >> 16u;
  h *= 0x7feb352du;
  h ^= h >> 15u;
  h *= 0x846ca68bu;
  h ^= h >> 16u;
  return h;
}

fn inv_norm(i: u32) -> f32 {
  var s = 0.0;
  for (var d = 0u; d < p.dim; d++) {
    let v = z[i * p.dim + d];
    s += v * v;
  }
  return 1.0 / max(sqrt(s), 1e-12);
}

@compute @workgroup_size(64)
fn vq_ema(@builtin(global_invocation_id) gid: vec3u) {
  let k = gid.x;
  if (k >= p.k) { return; }
  var sum: array<f32, 64>;
  for (var d = 0u; d < p.dim; d++) { sum[d] = 0.0; }
  var count = 0.0;
  for (var i = 0u; i < p.n; i++) {
    if (assign[i] != i32(k)) { continue; }
    count += 1.0;
    let s = inv_norm(i);
    for (var d = 0u; d < p.dim; d++) { sum[d] += z[i * p.dim + d] * s; }
  }
  var cs = p.decay * size[k] + (1.0 - p.decay) * count;
  for (var d = 0u; d < p.dim; d++) {
    sum[d] = p.decay * avg[k * p.dim + d] + (1.0 - p.decay) * sum[d];
  }
  if (cs < p.threshold && p.n > 0u) {
    let r = mix(k * 0x9e3779b9u + mix(p.seed)) % p.n;
    let s = inv_norm(r) * p.threshold;
    for (var d = 0u; d < p.dim; d++) { sum[d] = z[r * p.dim + d] * s; }
    cs = p.threshold;
  }
  size[k] = cs;
  var nn = 0.0;
  for (var d = 0u; d < p.dim; d++) {
    avg[k * p.dim + d] = sum[d];
    nn += sum[d] * sum[d];
  }
  let inv = 1.0 / max(sqrt(nn), 1e-12);
  for (var d = 0u; d < p.dim; d++) { codebook[k * p.dim + d] = sum[d] * inv; }
}
