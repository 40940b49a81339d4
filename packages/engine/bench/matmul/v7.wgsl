// bench/matmul v7: v6 with scalar loads (array<f32>, vec4 assembled by hand) so K need not be a multiple
// of 4. 2-3x slower than vec4 loads on llvmpipe, hence the shipped kernel requires K % 4 == 0.
// Bindings: 0 uniform P{rows}, 1 x [rows, K] f32, 2 w [N, K] f32, 3 y [rows, N].
override K: u32; override N: u32; override WG: u32 = 64;
struct P { rows: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
fn ld4x(o: u32) -> vec4<f32> { return vec4(x[o], x[o + 1u], x[o + 2u], x[o + 3u]); }
fn ld4w(o: u32) -> vec4<f32> { return vec4(w[o], w[o + 1u], w[o + 2u], w[o + 3u]); }
fn store(r: u32, c0: u32, a: vec4<f32>) {
  for (var j = 0u; j < 4u; j++) { let c = c0 + j; if (c < N) { y[r * N + c] = a[j]; } }
}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * WG;
  let ct = (N + 3u) / 4u; let rt = (p.rows + 3u) / 4u;
  if (t >= ct * rt) { return; }
  let c0 = (t % ct) * 4u; let r0 = (t / ct) * 4u;
  let K4 = K / 4u;
  let w0o = min(c0, N - 1u) * K; let w1o = min(c0 + 1u, N - 1u) * K; let w2o = min(c0 + 2u, N - 1u) * K; let w3o = min(c0 + 3u, N - 1u) * K;
  if (r0 + 4u <= p.rows) {
    let x0o = r0 * K; let x1o = x0o + K; let x2o = x1o + K; let x3o = x2o + K;
    var a0 = vec4<f32>(); var a1 = vec4<f32>(); var a2 = vec4<f32>(); var a3 = vec4<f32>();
    for (var k = 0u; k < K4; k++) {
      let w0 = ld4w(w0o + k * 4u); let w1 = ld4w(w1o + k * 4u); let w2 = ld4w(w2o + k * 4u); let w3 = ld4w(w3o + k * 4u);
      let x0 = ld4x(x0o + k * 4u); let x1 = ld4x(x1o + k * 4u); let x2 = ld4x(x2o + k * 4u); let x3 = ld4x(x3o + k * 4u);
      a0 += vec4(dot(x0, w0), dot(x0, w1), dot(x0, w2), dot(x0, w3));
      a1 += vec4(dot(x1, w0), dot(x1, w1), dot(x1, w2), dot(x1, w3));
      a2 += vec4(dot(x2, w0), dot(x2, w1), dot(x2, w2), dot(x2, w3));
      a3 += vec4(dot(x3, w0), dot(x3, w1), dot(x3, w2), dot(x3, w3));
    }
    store(r0, c0, a0); store(r0 + 1u, c0, a1); store(r0 + 2u, c0, a2); store(r0 + 3u, c0, a3);
  } else {
    for (var r = r0; r < p.rows; r++) {
      let xo = r * K;
      var a = vec4<f32>();
      for (var k = 0u; k < K4; k++) {
        let xv = ld4x(xo + k * 4u);
        a += vec4(dot(xv, ld4w(w0o + k * 4u)), dot(xv, ld4w(w1o + k * 4u)), dot(xv, ld4w(w2o + k * 4u)), dot(xv, ld4w(w3o + k * 4u)));
      }
      store(r, c0, a);
    }
  }
}
