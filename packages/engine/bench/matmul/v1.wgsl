// bench/matmul v1: 4x4 register-blocked dot tiles, missing rows clamped (computed and discarded). The
// environment.md-style baseline. Fast for full tiles, 4x wasted work for GEMV (rows = 1).
// Bindings: 0 uniform P{rows}, 1 x [rows, K/4] vec4, 2 w [N, K/4] vec4, 3 y [rows, N]. One thread per tile.
override K: u32; override N: u32; override WG: u32 = 64;
struct P { rows: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * WG;
  let ct = (N + 3u) / 4u; let rt = (p.rows + 3u) / 4u;
  if (t >= ct * rt) { return; }
  let c0 = (t % ct) * 4u; let r0 = (t / ct) * 4u;
  let K4 = K / 4u;
  var xo: array<u32, 4>; var wo: array<u32, 4>;
  for (var i = 0u; i < 4u; i++) { xo[i] = min(r0 + i, p.rows - 1u) * K4; wo[i] = min(c0 + i, N - 1u) * K4; }
  var a0 = vec4<f32>(); var a1 = vec4<f32>(); var a2 = vec4<f32>(); var a3 = vec4<f32>();
  for (var k = 0u; k < K4; k++) {
    let w0 = w[wo[0] + k]; let w1 = w[wo[1] + k]; let w2 = w[wo[2] + k]; let w3 = w[wo[3] + k];
    let x0 = x[xo[0] + k]; let x1 = x[xo[1] + k]; let x2 = x[xo[2] + k]; let x3 = x[xo[3] + k];
    a0 += vec4(dot(x0, w0), dot(x0, w1), dot(x0, w2), dot(x0, w3));
    a1 += vec4(dot(x1, w0), dot(x1, w1), dot(x1, w2), dot(x1, w3));
    a2 += vec4(dot(x2, w0), dot(x2, w1), dot(x2, w2), dot(x2, w3));
    a3 += vec4(dot(x3, w0), dot(x3, w1), dot(x3, w2), dot(x3, w3));
  }
  var acc = array<vec4<f32>, 4>(a0, a1, a2, a3);
  for (var i = 0u; i < 4u; i++) {
    let r = r0 + i;
    if (r >= p.rows) { break; }
    for (var j = 0u; j < 4u; j++) { let c = c0 + j; if (c < N) { y[r * N + c] = acc[i][j]; } }
  }
}
