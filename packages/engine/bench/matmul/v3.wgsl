// bench/matmul v3: 1 row x 4 columns per thread (a GEMV kernel). Best at rows = 1, 2-3x slower than the
// 4x4 tiles once rows >= 4 (x is re-read per column tile, w per row).
// Bindings: 0 uniform P{rows}, 1 x [rows, K/4] vec4, 2 w [N, K/4] vec4, 3 y [rows, N].
override K: u32; override N: u32; override WG: u32 = 64;
struct P { rows: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * WG;
  let ct = (N + 3u) / 4u;
  if (t >= ct * p.rows) { return; }
  let c0 = (t % ct) * 4u; let r = t / ct;
  let K4 = K / 4u;
  let w0o = min(c0, N - 1u) * K4; let w1o = min(c0 + 1u, N - 1u) * K4; let w2o = min(c0 + 2u, N - 1u) * K4; let w3o = min(c0 + 3u, N - 1u) * K4;
  let xo = r * K4;
  var a = vec4<f32>();
  for (var k = 0u; k < K4; k++) {
    let xv = x[xo + k];
    a += vec4(dot(xv, w[w0o + k]), dot(xv, w[w1o + k]), dot(xv, w[w2o + k]), dot(xv, w[w3o + k]));
  }
  for (var j = 0u; j < 4u; j++) { let c = c0 + j; if (c < N) { y[r * N + c] = a[j]; } }
}
