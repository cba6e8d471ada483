// Pointwise losses reduced as a mean over valid entries: L1, MSE, Huber, binary cross-entropy
// with logits, sigmoid focal loss. Entries are (rows, cols); validity is per row (valid: rows)
// or per entry (valid: rows*cols, p.valid_per_entry == 1). An optional positive weight
// multiplies each entry's loss by 1 + (pos_weight - 1) * target (the reference's edge weighting).
//   loss = sum_valid l(pred, target) * posw / count_valid
//
// Bindings (group 0):
//   0 p       uniform  P
//   1 pred    read     array<f32>  (rows, cols)
//   2 target  read     array<f32>  (rows, cols)
//   3 valid   read     array<u32>  (rows) or (rows, cols); read when p.has_valid == 1
//   4 g       read     array<f32>  (1) upstream gradient of the mean (backward)
//   5 total   read     array<f32>  (2) column sums of stats: [sum loss, count] (backward)
//   6 stats   rw       array<f32>  (rows, 2): [sum_c loss, count] (forward)
//   7 out     rw       array<f32>  (rows, cols) backward: dpred
// Grid: forward: one invocation per row; backward: one per entry (64 per workgroup, x/y folded).

override LOSS: u32 = 0u;   // 0 L1, 1 MSE, 2 Huber, 3 BCE with logits, 4 sigmoid focal

struct P {
  rows: u32,
  cols: u32,
  has_valid: u32,
  valid_per_entry: u32,
  delta: f32,       // Huber threshold
  gamma: f32,       // focal exponent
  alpha: f32,       // focal class balance; < 0 disables
  pos_weight: f32,  // 1 disables
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read> tgt: array<f32>;
@group(0) @binding(3) var<storage, read> valid: array<u32>;
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read> total: array<f32>;
@group(0) @binding(6) var<storage, read_write> stats: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;

fn is_valid(i: u32, r: u32) -> bool {
  if (p.has_valid == 0u) { return true; }
  return select(valid[r], valid[i], p.valid_per_entry == 1u) != 0u;
}

fn sigmoid(x: f32) -> f32 {
  return 1.0 / (1.0 + exp(-x));
}

// (loss, dloss/dpred) for one entry, before the positive weight.
fn loss_grad(x: f32, t: f32) -> vec2f {
  let d = x - t;
  switch LOSS {
    case 0u: { return vec2f(abs(d), sign(d)); }
    case 1u: { return vec2f(d * d, 2.0 * d); }
    case 2u: {
      if (abs(d) <= p.delta) { return vec2f(0.5 * d * d, d); }
      return vec2f(p.delta * (abs(d) - 0.5 * p.delta), p.delta * sign(d));
    }
    case 3u: {
      return vec2f(max(x, 0.0) - x * t + log(1.0 + exp(-abs(x))), sigmoid(x) - t);
    }
    default: {
      let pr = sigmoid(x);
      let ce = max(x, 0.0) - x * t + log(1.0 + exp(-abs(x)));
      let pt = pr * t + (1.0 - pr) * (1.0 - t);
      let om = max(1.0 - pt, 0.0);
      let f = pow(om, p.gamma);
      let df = select(0.0, -p.gamma * pow(om, p.gamma - 1.0), om > 0.0) * (2.0 * t - 1.0) *
        pr * (1.0 - pr);
      var l = ce * f;
      var gr = (pr - t) * f + ce * df;
      if (p.alpha >= 0.0) {
        let at = p.alpha * t + (1.0 - p.alpha) * (1.0 - t);
        l *= at;
        gr *= at;
      }
      return vec2f(l, gr);
    }
  }
}

@compute @workgroup_size(FLAT_WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = flat_index(gid, nwg);
  if (r >= p.rows) { return; }
  var s = 0.0;
  var n = 0.0;
  for (var c = 0u; c < p.cols; c++) {
    let i = r * p.cols + c;
    if (!is_valid(i, r)) { continue; }
    let t = tgt[i];
    s += loss_grad(pred[i], t).x * (1.0 + (p.pos_weight - 1.0) * t);
    n += 1.0;
  }
  stats[r * 2u] = s;
  stats[r * 2u + 1u] = n;
}

@compute @workgroup_size(FLAT_WG)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.rows * p.cols) { return; }
  let r = i / p.cols;
  let n = total[1];
  if (!is_valid(i, r) || n == 0.0) {
    out[i] = 0.0;
    return;
  }
  let t = tgt[i];
  out[i] = g[0] / n * loss_grad(pred[i], t).y * (1.0 + (p.pos_weight - 1.0) * t);
}
