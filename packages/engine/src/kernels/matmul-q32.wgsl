// Packed matmul, legacy 32-element blocks (Q8_0 Q4_0 Q4_1 Q5_0 Q5_1): y[r, j] = sum_k x[r, k] * w[j, k]
// (+ bias[j]) (+ y[r, j] when ACCUMULATE), with w read in its stored GGUF bytes and dequantized in
// registers. The TypeScript wrapper prepends dequant/common.wgsl and one type's dequant/<type>.wgsl, which
// define QB_BYTES, QB_MIN (the type has an additive offset m), QHead, qHead(addr) and qPair(head, m)
// (the quants of chunks m and m + 4, which share their stored bytes for the 4- and 5-bit types).
// Same semantics, bindings and dispatch as matmul.wgsl except that w is the raw bytes. Not a float kernel
// (matmul-f16.wgsl) and not K-quants (matmul-qk.wgsl).
//
// Bindings (group 0):
//   0 uniform     Dims { rows }
//   1 read        x:    array<vec4<f32>>  [rows, K/4] (K is a multiple of 32)
//   2 read        w:    array<u32>        N rows of K/32 blocks, row j at byte j * RB, zero-padded to words
//   3 read        bias: array<f32>        [N] (bound but unread unless HAS_BIAS)
//   4 read_write  y:    array<f32>        [rows, Y_STRIDE] (columns yOffset .. yOffset + N)
//   5 uniform     Part { yOffset, colTiles, lastCol }   fixed per bound op
// Workgroup: WG threads; each thread owns a 4-row x 4-column tile of y; its 4 columns' block headers and
// 4-element quant chunks are decoded once and used for all the tile's rows.
// Numerics (f32): per block b, per column, p = sum of dot(x[4c..], q[4c..]) over the 4-element chunks
// c = 0, 4, 1, 5, 2, 6, 3, 7 in that order (q the integer quants as f32, centred for symmetric types), and
// for QB_MIN types s = sum of the same chunks' (x0 + x1) + (x2 + x3) in the same order; then
// acc = acc + (d * p + m * s) (QB_MIN) or acc + d * p. Then + bias, then + old y. That is the factoring
// sum (d q + m) x = d sum(q x) + m sum(x); the order depends on K and the type only. Full 4-row tiles and
// the partial last tile (rows looped one at a time) run the same per-element sequence, so a row's bits do
// not depend on the rest of its batch.

override K: u32;
override N: u32;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
override Y_STRIDE: u32 = N;
override WG: u32 = 64u;
/** Bytes per stored row, and the last word index of the weights (clamp for reads past a row). */
override RB: u32 = K / 32u * QB_BYTES;
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

/** One chunk of one row against the 4 columns' quants. */
fn qdot(xv: vec4<f32>, q0: vec4<f32>, q1: vec4<f32>, q2: vec4<f32>, q3: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(dot(xv, q0), dot(xv, q1), dot(xv, q2), dot(xv, q3));
}

fn xsum(xv: vec4<f32>) -> f32 {
  return (xv.x + xv.y) + (xv.z + xv.w);
}

/** A row's accumulator after one block: p its 4 columns' quant dots, s its sum of x over the block. */
fn fold(a: vec4<f32>, d: vec4<f32>, m: vec4<f32>, p: vec4<f32>, s: f32) -> vec4<f32> {
  if (QB_MIN) { return a + (d * p + m * s); }
  return a + d * p;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * WG;
  let colTiles = part.colTiles;
  let rows = dims.rows;
  if (t >= colTiles * ((rows + 3u) / 4u)) { return; }
  let c0 = (t % colTiles) * 4u;
  let r0 = (t / colTiles) * 4u;
  let k4 = K / 4u;
  let nb = K / 32u;
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
    for (var b = 0u; b < nb; b++) {
      let h0 = qHead(w0o + b * QB_BYTES);
      let h1 = qHead(w1o + b * QB_BYTES);
      let h2 = qHead(w2o + b * QB_BYTES);
      let h3 = qHead(w3o + b * QB_BYTES);
      var p0 = vec4<f32>();
      var p1 = vec4<f32>();
      var p2 = vec4<f32>();
      var p3 = vec4<f32>();
      var s0 = 0.0;
      var s1 = 0.0;
      var s2 = 0.0;
      var s3 = 0.0;
      for (var c = 0u; c < 4u; c++) {
        let q0 = qPair(h0, c);
        let q1 = qPair(h1, c);
        let q2 = qPair(h2, c);
        let q3 = qPair(h3, c);
        let xi = b * 8u + c;
        let x0 = x[x0o + xi];
        let x1 = x[x1o + xi];
        let x2 = x[x2o + xi];
        let x3 = x[x3o + xi];
        let y0 = x[x0o + xi + 4u];
        let y1 = x[x1o + xi + 4u];
        let y2 = x[x2o + xi + 4u];
        let y3 = x[x3o + xi + 4u];
        p0 += qdot(x0, q0.lo, q1.lo, q2.lo, q3.lo);
        p1 += qdot(x1, q0.lo, q1.lo, q2.lo, q3.lo);
        p2 += qdot(x2, q0.lo, q1.lo, q2.lo, q3.lo);
        p3 += qdot(x3, q0.lo, q1.lo, q2.lo, q3.lo);
        p0 += qdot(y0, q0.hi, q1.hi, q2.hi, q3.hi);
        p1 += qdot(y1, q0.hi, q1.hi, q2.hi, q3.hi);
        p2 += qdot(y2, q0.hi, q1.hi, q2.hi, q3.hi);
        p3 += qdot(y3, q0.hi, q1.hi, q2.hi, q3.hi);
        if (QB_MIN) {
          s0 += xsum(x0);
          s1 += xsum(x1);
          s2 += xsum(x2);
          s3 += xsum(x3);
          s0 += xsum(y0);
          s1 += xsum(y1);
          s2 += xsum(y2);
          s3 += xsum(y3);
        }
      }
      let d = vec4<f32>(h0.d, h1.d, h2.d, h3.d);
      let m = vec4<f32>(h0.m, h1.m, h2.m, h3.m);
      a0 = fold(a0, d, m, p0, s0);
      a1 = fold(a1, d, m, p1, s1);
      a2 = fold(a2, d, m, p2, s2);
      a3 = fold(a3, d, m, p3, s3);
    }
    store(r0, c0, a0);
    store(r0 + 1u, c0, a1);
    store(r0 + 2u, c0, a2);
    store(r0 + 3u, c0, a3);
  } else {
    for (var r = r0; r < rows; r++) {
      let xo = r * k4;
      var a = vec4<f32>();
      for (var b = 0u; b < nb; b++) {
        let h0 = qHead(w0o + b * QB_BYTES);
        let h1 = qHead(w1o + b * QB_BYTES);
        let h2 = qHead(w2o + b * QB_BYTES);
        let h3 = qHead(w3o + b * QB_BYTES);
        var p = vec4<f32>();
        var s = 0.0;
        for (var c = 0u; c < 4u; c++) {
          let q0 = qPair(h0, c);
          let q1 = qPair(h1, c);
          let q2 = qPair(h2, c);
          let q3 = qPair(h3, c);
          let xv = x[xo + b * 8u + c];
          let yv = x[xo + b * 8u + c + 4u];
          p += qdot(xv, q0.lo, q1.lo, q2.lo, q3.lo);
          p += qdot(yv, q0.hi, q1.hi, q2.hi, q3.hi);
          if (QB_MIN) {
            s += xsum(xv);
            s += xsum(yv);
          }
        }
        let d = vec4<f32>(h0.d, h1.d, h2.d, h3.d);
        let m = vec4<f32>(h0.m, h1.m, h2.m, h3.m);
        a = fold(a, d, m, p, s);
      }
      store(r, c0, a);
    }
  }
}
