// silu-mul: out[r, j] = silu(gu[r, j]) * gu[r, M + j], silu(g) = g * sigmoid(g); gu holds a row's gate
// projection then its up projection (one fused matmul). Must match reference.ts siluMulRef.
//
// Bindings (group 0):
//   0 uniform     Dims { rows }
//   1 read        gu:  array<f32>  [rows, 2 * M]
//   2 read_write  out: array<f32>  [rows, OUT_STRIDE]  (columns past M untouched: a padded matmul input)
// Workgroup: WG threads, one per output. Dispatch: ceil(rows * M / WG), folded 2D.
// Numerics: f32; sigmoid is evaluated without overflow (exp of a non-positive argument only).

override M: u32;
override OUT_STRIDE: u32 = M;
override WG: u32 = 64u;

struct Dims { rows: u32 }

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> gu: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= dims.rows * M) { return; }
  let j = t % M;
  let r = t / M;
  let g = gu[r * 2u * M + j];
  let u = gu[r * 2u * M + M + j];
  let e = exp(-abs(g));
  let sig = select(e / (1.0 + e), 1.0 / (1.0 + e), g >= 0.0);
  out[r * OUT_STRIDE + j] = g * sig * u;
}
