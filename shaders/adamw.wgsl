// AdamW (decoupled weight decay, as torch.optim.AdamW) over one parameter group's arena in a
// single dispatch, with global-norm gradient clipping folded in: the clip factor is computed
// from the squared norm on the GPU, so clipping needs no readback.
//   g' = g * clip, clip = max_norm > 0 ? min(1, max_norm / (sqrt(sumsq) + 1e-6)) : 1
//   p -= lr * wd * p;  m = b1 m + (1 - b1) g';  v = b2 v + (1 - b2) g'^2
//   p -= lr * (m / bc1) / (sqrt(v / bc2) + eps)
//
// Bindings (group 0):
//   0 p      uniform  P
//   1 grad   read     array<f32>  (n)
//   2 sumsq  read     array<f32>  (1) squared global gradient norm (all trainable groups)
//   3 param  rw       array<f32>  (n)
//   4 m      rw       array<f32>  (n) first moment
//   5 v      rw       array<f32>  (n) second moment
// Grid: one invocation per element, 64 per workgroup, x/y folded.

struct P {
  n: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  weight_decay: f32,
  bc1: f32,        // 1 - beta1^t
  bc2: f32,        // 1 - beta2^t
  max_norm: f32,   // <= 0 disables clipping
}

@group(0) @binding(0) var<uniform> u: P;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read> sumsq: array<f32>;
@group(0) @binding(3) var<storage, read_write> param: array<f32>;
@group(0) @binding(4) var<storage, read_write> m: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(FLAT_WG)
fn step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= u.n) { return; }
  var clip = 1.0;
  if (u.max_norm > 0.0) { clip = min(1.0, u.max_norm / (sqrt(sumsq[0]) + 1e-6)); }
  let g = grad[i] * clip;
  var w = param[i];
  w -= u.lr * u.weight_decay * w;
  let mi = u.beta1 * m[i] + (1.0 - u.beta1) * g;
  let vi = u.beta2 * v[i] + (1.0 - u.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  param[i] = w - u.lr * (mi / u.bc1) / (sqrt(vi / u.bc2) + u.eps);
}
