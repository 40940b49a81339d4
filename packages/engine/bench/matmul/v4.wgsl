// bench/matmul v4: 4x4 tiles with w pre-transposed to [K, N/4] vec4 (coalesced w loads, per-k FMAs).
// Good on paper for real GPUs; on llvmpipe it falls off at K = 1024 (stride-N walks through w).
// Bindings: 0 uniform P{rows}, 1 x [rows, K/4] vec4, 2 w [K, N/4] vec4, 3 y [rows, N/4] vec4.
override K: u32; override N4: u32; override WG: u32 = 64;
struct P { rows: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * WG;
  let rt = (p.rows + 3u) / 4u;
  if (t >= N4 * rt) { return; }
  let c = t % N4; let r0 = (t / N4) * 4u;
  let K4 = K / 4u;
  let x0o = min(r0, p.rows - 1u) * K4; let x1o = min(r0 + 1u, p.rows - 1u) * K4; let x2o = min(r0 + 2u, p.rows - 1u) * K4; let x3o = min(r0 + 3u, p.rows - 1u) * K4;
  var a0 = vec4<f32>(); var a1 = vec4<f32>(); var a2 = vec4<f32>(); var a3 = vec4<f32>();
  for (var k = 0u; k < K4; k++) {
    let x0 = x[x0o + k]; let x1 = x[x1o + k]; let x2 = x[x2o + k]; let x3 = x[x3o + k];
    let wb = k * 4u * N4 + c;
    let w0 = w[wb]; let w1 = w[wb + N4]; let w2 = w[wb + 2u * N4]; let w3 = w[wb + 3u * N4];
    a0 = fma(vec4(x0.x), w0, a0); a0 = fma(vec4(x0.y), w1, a0); a0 = fma(vec4(x0.z), w2, a0); a0 = fma(vec4(x0.w), w3, a0);
    a1 = fma(vec4(x1.x), w0, a1); a1 = fma(vec4(x1.y), w1, a1); a1 = fma(vec4(x1.z), w2, a1); a1 = fma(vec4(x1.w), w3, a1);
    a2 = fma(vec4(x2.x), w0, a2); a2 = fma(vec4(x2.y), w1, a2); a2 = fma(vec4(x2.z), w2, a2); a2 = fma(vec4(x2.w), w3, a2);
    a3 = fma(vec4(x3.x), w0, a3); a3 = fma(vec4(x3.y), w1, a3); a3 = fma(vec4(x3.z), w2, a3); a3 = fma(vec4(x3.w), w3, a3);
  }
  y[r0 * N4 + c] = a0;
  if (r0 + 1u < p.rows) { y[(r0 + 1u) * N4 + c] = a1; }
  if (r0 + 2u < p.rows) { y[(r0 + 2u) * N4 + c] = a2; }
  if (r0 + 3u < p.rows) { y[(r0 + 3u) * N4 + c] = a3; }
}
