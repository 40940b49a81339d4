// Packed matmul, 16-bit floats (F16 and BF16): y[r, j] = sum_k x[r, k] * w[j, k] (+ bias[j]) (+ y[r, j]
// when ACCUMULATE), with w read in its stored 2-byte elements and widened to f32 in registers. The
// TypeScript wrapper prepends dequant/common.wgsl and dequant/f16.wgsl or dequant/bf16.wgsl (decode2: a
// word's two elements as f32; no shader-f16 feature needed). Same semantics, bindings, dispatch and
// per-element arithmetic as matmul.wgsl, only w differs. Not the block-quantized kernels (matmul-q32.wgsl,
// matmul-qk.wgsl).
//
// Bindings (group 0):
//   0 uniform     Dims { rows }
//   1 read        x:    array<vec4<f32>>  [rows, KS/4], KS = K rounded up to 4 (pad floats never used)
//   2 read        w:    array<u32>        N rows of K elements, row j at byte 2 * K * j, zero-padded to
//                                         words; any K, so rows start on 2-byte boundaries when K is odd
//   3 read        bias: array<f32>        [N] (bound but unread unless HAS_BIAS)
//   4 read_write  y:    array<f32>        [rows, Y_STRIDE] (columns yOffset .. yOffset + N)
//   5 uniform     Part { yOffset, colTiles, lastCol }   fixed per bound op
// Workgroup: WG threads; each thread owns a 4-row x 4-column tile of y; each 4-element chunk of its 4
// columns is decoded once and used for all the tile's rows.
// Numerics: as matmul.wgsl, acc += dot(x[r, 4i..4i+3], w[j, 4i..4i+3]) for i = 0, 1, ... in order (when
// K % 4 != 0 the last step's lanes past K are zeroed in both operands), then + bias, then + old y; full
// and partial row tiles run the same per-element sequence, so a row's bits do not depend on its batch.

override K: u32;
override N: u32;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
override Y_STRIDE: u32 = N;
override WG: u32 = 64u;
/** Bytes per stored row, and the last word index of the weights (clamp for reads past a row). */
override RB: u32 = 2u * K;
override W_LAST: u32 = (N * RB + 3u) / 4u - 1u;

struct Dims { rows: u32 }
// colTiles = ceil(N / 4) and lastCol = N - 1 come from the uniform, not from N, so that the compiler never
// sees the column tile (c0 = 0 when N <= 4) or the column clamp as constants: otherwise it may fold and
// merge the tile's columns and contract multiply-adds differently, and a part of a weight split by output
// rows would not give the same bits as the whole.
struct Part { yOffset: u32, colTiles: u32, lastCol: u32 }

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> part: Part;

/** The 4 elements at byte address a (a multiple of 2) as f32. When K is even every row starts on a word
 *  (RB % 4 == 0, a pipeline constant), so a is a multiple of 4 and two words hold the 4 elements. */
fn wq(a: u32) -> vec4<f32> {
  let i = a >> 2u;
  if (RB % 4u == 0u) {
    return vec4<f32>(decode2(w[i]), decode2(w[min(i + 1u, W_LAST)]));
  }
  let w0 = w[i];
  let w1 = w[min(i + 1u, W_LAST)];
  let w2 = w[min(i + 2u, W_LAST)];
  let odd = (a & 2u) != 0u;
  let lo = select(w0, (w0 >> 16u) | (w1 << 16u), odd);
  let hi = select(w1, (w1 >> 16u) | (w2 << 16u), odd);
  return vec4<f32>(decode2(lo), decode2(hi));
}

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
  let colTiles = part.colTiles;
  let rows = dims.rows;
  if (t >= colTiles * ((rows + 3u) / 4u)) { return; }
  let c0 = (t % colTiles) * 4u;
  let r0 = (t / colTiles) * 4u;
  let k4 = (K + 3u) / 4u; // vec4s per stored row of x
  let kf = K / 4u; // whole chunks of data
  // Columns past N read column N - 1 (never stored).
  let w0o = min(c0, part.lastCol) * RB;
  let w1o = min(c0 + 1u, part.lastCol) * RB;
  let w2o = min(c0 + 2u, part.lastCol) * RB;
  let w3o = min(c0 + 3u, part.lastCol) * RB;
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
      let w0 = wq(w0o + 8u * k);
      let w1 = wq(w1o + 8u * k);
      let w2 = wq(w2o + 8u * k);
      let w3 = wq(w3o + 8u * k);
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
      let w0 = tail(wq(w0o + 8u * kf));
      let w1 = tail(wq(w1o + 8u * kf));
      let w2 = tail(wq(w2o + 8u * kf));
      let w3 = tail(wq(w3o + 8u * kf));
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
        a += vec4(
          dot(xv, wq(w0o + 8u * k)),
          dot(xv, wq(w1o + 8u * k)),
          dot(xv, wq(w2o + 8u * k)),
          dot(xv, wq(w3o + 8u * k)),
        );
      }
      if (K % 4u != 0u) {
        let xv = tail(x[xo + kf]);
        a += vec4(
          dot(xv, tail(wq(w0o + 8u * kf))),
          dot(xv, tail(wq(w1o + 8u * kf))),
          dot(xv, tail(wq(w2o + 8u * kf))),
          dot(xv, tail(wq(w3o + 8u * kf))),
        );
      }
      store(r, c0, a);
    }
  }
}
