// rmsnorm: y[r, :] = (x[r, :] * inv) * w, inv = 1 / sqrt(mean(x[r, :]^2) + EPS) (Hugging Face LlamaRMSNorm).
// Must match reference.ts rmsnormRef.
//
// Bindings (group 0):
//   0 uniform     Dims { rows }
//   1 read        x: array<f32>  [rows, N]
//   2 read        w: array<f32>  [N]
//   3 read_write  y: array<f32>  [rows, Y_STRIDE]  (columns past N untouched: a padded matmul input)
// Workgroup: WG threads (a power of two) per row. Dispatch: rows workgroups, folded 2D.
// Numerics: f32. Thread t sums x[i]^2 for i = t, t + WG, ... in order; the WG partial sums are then added
// in a fixed binary tree. The order depends on N and WG only, never on the batch, so rows are independent.

override N: u32;
override EPS: f32;
override Y_STRIDE: u32 = N;
override WG: u32 = 64u;

struct Dims { rows: u32 }

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let r = wid.x + wid.y * nwg.x;
  // Uniform per workgroup, so the early return keeps barriers in uniform control flow.
  if (r >= dims.rows) { return; }
  let o = r * N;
  var ss = 0.0;
  for (var i = lid; i < N; i += WG) {
    let v = x[o + i];
    ss += v * v;
  }
  partial[lid] = ss;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) { partial[lid] = partial[lid] + partial[lid + s]; }
  }
  workgroupBarrier();
  let inv = 1.0 / sqrt(partial[0] / f32(N) + EPS);
  let yo = r * Y_STRIDE;
  for (var i = lid; i < N; i += WG) {
    y[yo + i] = (x[o + i] * inv) * w[i];
  }
}
