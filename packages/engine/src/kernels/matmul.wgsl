// matmul: y[r, j] = sum_k x[r, k] * w[j, k] (+ bias[j]) (+ y[r, j] when ACCUMULATE), w in nn.Linear layout;
// y[r, j] is stored at r * Y_STRIDE + part.yOffset + j, so a weight split by output rows can fill one y.
// Must match reference.ts matmulRef (+ addRef for ACCUMULATE). From bench/matmul/v6.wgsl (register-blocked).
//
// Rows of x and w are stored with a stride of KS = K rounded up to a multiple of 4 floats (vec4 loads);
// the KS - K pad floats of a row may hold anything: the last vec4 is masked, never read as data.
//
// Bindings (group 0):
//   0 uniform     Dims { rows }                       rows of this run
//   1 read        x:    array<vec4<f32>>  [rows, KS/4]
//   2 read        w:    array<vec4<f32>>  [N, KS/4]
//   3 read        bias: array<f32>        [N] (bound but unread unless HAS_BIAS)
//   4 read_write  y:    array<f32>        [rows, Y_STRIDE] (columns yOffset .. yOffset + N)
//   5 uniform     Part { yOffset }                    fixed per bound op (a uniform, not an override, so
//                                                     the parts of a split matrix share one pipeline)
// Workgroup: WG threads; each thread owns a 4-row x 4-column tile of y.
// Dispatch: ceil(ceil(rows/4) * ceil(N/4) / WG) workgroups, folded 2D (id = wid.x + wid.y * nwg.x).
// Numerics: f32; every y element accumulates acc += dot(x[r, 4i..4i+3], w[j, 4i..4i+3]) for i = 0, 1, ...
// in order (when K % 4 != 0 the last step's lanes past K are zeroed in both operands), then + bias, then
// + old y. Full 4-row tiles and the last partial tile run the same per-element sequence (partial tiles loop
// over their rows with 1x4 dots), and K is never split, so a row's result does not depend on how many rows
// share the batch or where the row sits in it. Columns past N are clamped on load and not stored.

override K: u32;
override N: u32;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
override Y_STRIDE: u32 = N;
override WG: u32 = 64u;

struct Dims { rows: u32 }
struct Part { yOffset: u32 }

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> part: Part;

/** The tail vec4 (index K / 4) with its lanes past K zeroed; only used when K % 4 != 0. */
fn tail(v: vec4<f32>) -> vec4<f32> {
  return select(vec4<f32>(), v, vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(K % 4u));
}

fn store(r: u32, c0: u32, a: vec4<f32>) {
  for (var j = 0u; j < 4u; j++) {
    let c = c0 + j;
    if (c < N) {
      var v = a[j];
      if (HAS_BIAS) { v = v + bias[c]; }
      let o = r * Y_STRIDE + part.yOffset + c;
      if (ACCUMULATE) { v = y[o] + v; }
      y[o] = v;
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * WG;
  let colTiles = (N + 3u) / 4u;
  let rows = dims.rows;
  if (t >= colTiles * ((rows + 3u) / 4u)) { return; }
  let c0 = (t % colTiles) * 4u;
  let r0 = (t / colTiles) * 4u;
  let k4 = (K + 3u) / 4u; // vec4s per stored row
  let kf = K / 4u; // whole vec4s of data
  let w0o = min(c0, N - 1u) * k4;
  let w1o = min(c0 + 1u, N - 1u) * k4;
  let w2o = min(c0 + 2u, N - 1u) * k4;
  let w3o = min(c0 + 3u, N - 1u) * k4;
  if (r0 + 4u <= rows) {
    let x0o = r0 * k4;
    let x1o = x0o + k4;
    let x2o = x1o + k4;
    let x3o = x2o + k4;
    var a0 = vec4<f32>();
    var a1 = vec4<f32>();
    var a2 = vec4<f32>();
    var a3 = vec4<f32>();
    for (var k = 0u; k < kf; k++) {
      let w0 = w[w0o + k];
      let w1 = w[w1o + k];
      let w2 = w[w2o + k];
      let w3 = w[w3o + k];
      let x0 = x[x0o + k];
      let x1 = x[x1o + k];
      let x2 = x[x2o + k];
      let x3 = x[x3o + k];
      a0 += vec4(dot(x0, w0), dot(x0, w1), dot(x0, w2), dot(x0, w3));
      a1 += vec4(dot(x1, w0), dot(x1, w1), dot(x1, w2), dot(x1, w3));
      a2 += vec4(dot(x2, w0), dot(x2, w1), dot(x2, w2), dot(x2, w3));
      a3 += vec4(dot(x3, w0), dot(x3, w1), dot(x3, w2), dot(x3, w3));
    }
    if (K % 4u != 0u) {
      let w0 = tail(w[w0o + kf]);
      let w1 = tail(w[w1o + kf]);
      let w2 = tail(w[w2o + kf]);
      let w3 = tail(w[w3o + kf]);
      let x0 = tail(x[x0o + kf]);
      let x1 = tail(x[x1o + kf]);
      let x2 = tail(x[x2o + kf]);
      let x3 = tail(x[x3o + kf]);
      a0 += vec4(dot(x0, w0), dot(x0, w1), dot(x0, w2), dot(x0, w3));
      a1 += vec4(dot(x1, w0), dot(x1, w1), dot(x1, w2), dot(x1, w3));
      a2 += vec4(dot(x2, w0), dot(x2, w1), dot(x2, w2), dot(x2, w3));
      a3 += vec4(dot(x3, w0), dot(x3, w1), dot(x3, w2), dot(x3, w3));
    }
    store(r0, c0, a0);
    store(r0 + 1u, c0, a1);
    store(r0 + 2u, c0, a2);
    store(r0 + 3u, c0, a3);
  } else {
    for (var r = r0; r < rows; r++) {
      let xo = r * k4;
      var a = vec4<f32>();
      for (var k = 0u; k < kf; k++) {
        let xv = x[xo + k];
        a += vec4(dot(xv, w[w0o + k]), dot(xv, w[w1o + k]), dot(xv, w[w2o + k]), dot(xv, w[w3o + k]));
      }
      if (K % 4u != 0u) {
        let xv = tail(x[xo + kf]);
        a += vec4(
          dot(xv, tail(w[w0o + kf])),
          dot(xv, tail(w[w1o + kf])),
          dot(xv, tail(w[w2o + kf])),
          dot(xv, tail(w[w3o + kf])),
        );
      }
      store(r, c0, a);
    }
  }
}
