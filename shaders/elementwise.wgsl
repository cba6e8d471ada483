// Elementwise and broadcast kernels, forward and backward.
//
// Bindings (group 0):
//   0 p    uniform  P
//   1 x    read     array<f32>  first operand (n elements, rows x cols when broadcasting)
//   2 y    read     array<f32>  second operand / upstream gradient
//   3 z    read     array<f32>  third operand (LayerScale gamma, per channel)
//   4 out  rw       array<f32>  result
// Grid: one invocation per output element, 64 per workgroup, folded into x/y.
// Broadcast operands are indexed by `i % cols` (one value per channel).

struct P {
  n: u32,       // output elements
  cols: u32,    // channels (last axis) for broadcasts, or H for SwiGLU
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> z: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn sigmoid(v: f32) -> f32 {
  return 1.0 / (1.0 + exp(-v));
}

// erf with |error| < 1.2e-7 (Numerical Recipes erfc, Chebyshev fit).
fn erf_(v: f32) -> f32 {
  let a = abs(v);
  let t = 1.0 / (1.0 + 0.5 * a);
  let r = t * exp(-a * a - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
    t * (-0.82215223 + t * 0.17087277)))))))));
  return select(r - 1.0, 1.0 - r, v >= 0.0);
}

// out = alpha * x + beta * y
@compute @workgroup_size(FLAT_WG)
fn axpby(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = p.alpha * x[i] + p.beta * y[i];
}

// out += alpha * x  (gradient accumulation)
@compute @workgroup_size(FLAT_WG)
fn accumulate(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = out[i] + p.alpha * x[i];
}

// out = x + y[i % cols]  (bias / per-channel broadcast add)
@compute @workgroup_size(FLAT_WG)
fn add_bcast(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = x[i] + y[i % p.cols];
}

// out = alpha * x * y
@compute @workgroup_size(FLAT_WG)
fn mul(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = p.alpha * x[i] * y[i];
}

// out = x * y[i % cols]  (per-channel scale)
@compute @workgroup_size(FLAT_WG)
fn mul_bcast(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = x[i] * y[i % p.cols];
}

// out = x + y * z[i % cols]  (residual with LayerScale)
@compute @workgroup_size(FLAT_WG)
fn residual_scale(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = x[i] + y[i] * z[i % p.cols];
}

@compute @workgroup_size(FLAT_WG)
fn silu_fwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  let v = x[i];
  out[i] = v * sigmoid(v);
}

// out = dy * silu'(x), with y = dy
@compute @workgroup_size(FLAT_WG)
fn silu_bwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  let v = x[i];
  let s = sigmoid(v);
  out[i] = y[i] * s * (1.0 + v * (1.0 - s));
}

// exact (erf) GELU, as torch.nn.GELU()
@compute @workgroup_size(FLAT_WG)
fn gelu_fwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  let v = x[i];
  out[i] = 0.5 * v * (1.0 + erf_(v * 0.70710678118654752));
}

@compute @workgroup_size(FLAT_WG)
fn gelu_bwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  let v = x[i];
  let cdf = 0.5 * (1.0 + erf_(v * 0.70710678118654752));
  let pdf = 0.39894228040143268 * exp(-0.5 * v * v);
  out[i] = y[i] * (cdf + v * pdf);
}

// SwiGLU: x is (rows, 2H) = [a | b]; out (rows, H) = silu(a) * b. n = rows * H, cols = H.
@compute @workgroup_size(FLAT_WG)
fn swiglu_fwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  let r = i / p.cols;
  let j = i - r * p.cols;
  let a = x[r * 2u * p.cols + j];
  let b = x[r * 2u * p.cols + p.cols + j];
  out[i] = a * sigmoid(a) * b;
}

// SwiGLU backward: y = dout (rows, H); out = dx (rows, 2H). One invocation writes both halves.
@compute @workgroup_size(FLAT_WG)
fn swiglu_bwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  let r = i / p.cols;
  let j = i - r * p.cols;
  let ia = r * 2u * p.cols + j;
  let a = x[ia];
  let b = x[ia + p.cols];
  let s = sigmoid(a);
  let g = y[i];
  out[ia] = g * b * s * (1.0 + a * (1.0 - s));
  out[ia + p.cols] = g * a * s;
}

// Dropout with a precomputed uniform draw y: out = y >= alpha ? x * beta : 0 (alpha = p,
// beta = 1 / (1 - p)). The backward pass is the same map applied to the upstream gradient.
@compute @workgroup_size(FLAT_WG)
fn dropout(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = select(0.0, x[i] * p.beta, y[i] >= p.alpha);
}

// out = |x - y|
@compute @workgroup_size(FLAT_WG)
fn absdiff_fwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = abs(x[i] - y[i]);
}

// out = z * sign(x - y): the gradient of |x - y| with respect to x (negate for y)
@compute @workgroup_size(FLAT_WG)
fn absdiff_bwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = z[i] * sign(x[i] - y[i]) * p.alpha;
}
