// bench/attention v4 (3 passes), pass 2: per (row, head), max-subtracted softmax of its scores in place
// (serial over the row's list, so the reduction order is fixed).
override HEADS: u32; override WG: u32 = 64u;
struct Dims { rows: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> gather: array<u32>;
@group(0) @binding(2) var<storage, read_write> scores: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * WG;
  let rows = dims.rows;
  if (t >= rows * HEADS) { return; }
  let r = t / HEADS; let h = t % HEADS;
  let total = gather[rows];
  let o = h * total;
  let s0 = gather[r]; let s1 = gather[r + 1u];
  var m = -3.0e38;
  for (var j = s0; j < s1; j++) { m = max(m, scores[o + j]); }
  var l = 0.0;
  for (var j = s0; j < s1; j++) { let e = exp(scores[o + j] - m); scores[o + j] = e; l += e; }
  let inv = 1.0 / l;
  for (var j = s0; j < s1; j++) { scores[o + j] = scores[o + j] * inv; }
}
