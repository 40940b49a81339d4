// Packed matmul, K-quant 256-element super-blocks (Q4_K Q5_K Q6_K): y[r, j] = sum_k x[r, k] * w[j, k]
// (+ bias[j]) (+ y[r, j] when ACCUMULATE), with w read in its stored GGUF bytes and dequantized in
// registers. The TypeScript wrapper prepends dequant/common.wgsl, dequant/kscale.wgsl and one type's
// dequant/<type>.wgsl, which define KB_BYTES, KG groups (runs of elements sharing one scale) of KGC
// 4-element chunks per super-block, K_MIN (the type subtracts a per-group min), KHead, kHead(addr),
// kScale(head, g) = (d * sc, dmin * mn) and kChunk(head, g, c). Same semantics, bindings and dispatch as
// matmul.wgsl except that w is the raw bytes. Not a float kernel (matmul-f16.wgsl) and not the legacy
// 32-element blocks (matmul-q32.wgsl).
//
// Bindings (group 0):
//   0 uniform     Dims { rows }
//   1 read        x:    array<vec4<f32>>  [rows, K/4] (K is a multiple of 256)
//   2 read        w:    array<u32>        N rows of K/256 super-blocks, row j at byte j * RB, zero-padded
//   3 read        bias: array<f32>        [N] (bound but unread unless HAS_BIAS)
//   4 read_write  y:    array<f32>        [rows, Y_STRIDE] (columns yOffset .. yOffset + N)
//   5 uniform     Part { yOffset }
// Workgroup: WG threads; each thread owns a 4-row x 4-column tile of y; its 4 columns' scales and
// 4-element quant chunks are decoded once and used for all the tile's rows.
// Numerics (f32): per super-block, per group g in order, per column, p = sum over the group's chunks in
// order of dot(x[4c..], q[4c..]) (q the integer quants as f32, centred for Q6_K), and for K_MIN types
// s = sum of the chunks' (x0 + x1) + (x2 + x3); then acc = acc + (D * p - M * s) (K_MIN) or acc + D * p,
// with (D, M) = kScale. Then + bias, then + old y. That is the factoring
// sum (D q - M) x = D sum(q x) - M sum(x); the order depends on K and the type only. Full 4-row tiles and
// the partial last tile (rows looped one at a time) run the same per-element sequence, so a row's bits do
// not depend on the rest of its batch.

override K: u32;
override N: u32;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
override Y_STRIDE: u32 = N;
override WG: u32 = 64u;
/** Bytes per stored row, and the last word index of the weights (clamp for reads past a row). */
override RB: u32 = K / 256u * KB_BYTES;
override W_LAST: u32 = (N * RB + 3u) / 4u - 1u;

struct Dims { rows: u32 }
struct Part { yOffset: u32 }

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

/** A row's accumulator after one group: p its 4 columns' quant dots, s its sum of x over the group. */
fn fold(a: vec4<f32>, d: vec4<f32>, m: vec4<f32>, p: vec4<f32>, s: f32) -> vec4<f32> {
  if (K_MIN) { return a + (d * p - m * s); }
  return a + d * p;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * WG;
  let colTiles = (N + 3u) / 4u;
  let rows = dims.rows;
  if (t >= colTiles * ((rows + 3u) / 4u)) { return; }
  let c0 = (t % colTiles) * 4u;
  let r0 = (t / colTiles) * 4u;
  let k4 = K / 4u;
  let nb = K / 256u;
  let w0o = min(c0, N - 1u) * RB;
  let w1o = min(c0 + 1u, N - 1u) * RB;
  let w2o = min(c0 + 2u, N - 1u) * RB;
  let w3o = min(c0 + 3u, N - 1u) * RB;
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
      let h0 = kHead(w0o + b * KB_BYTES);
      let h1 = kHead(w1o + b * KB_BYTES);
      let h2 = kHead(w2o + b * KB_BYTES);
      let h3 = kHead(w3o + b * KB_BYTES);
      for (var g = 0u; g < KG; g++) {
        var p0 = vec4<f32>();
        var p1 = vec4<f32>();
        var p2 = vec4<f32>();
        var p3 = vec4<f32>();
        var s0 = 0.0;
        var s1 = 0.0;
        var s2 = 0.0;
        var s3 = 0.0;
        for (var c = 0u; c < KGC; c++) {
          let q0 = kChunk(h0, g, c);
          let q1 = kChunk(h1, g, c);
          let q2 = kChunk(h2, g, c);
          let q3 = kChunk(h3, g, c);
          let xi = b * 64u + g * KGC + c;
          let x0 = x[x0o + xi];
          let x1 = x[x1o + xi];
          let x2 = x[x2o + xi];
          let x3 = x[x3o + xi];
          p0 += qdot(x0, q0, q1, q2, q3);
          p1 += qdot(x1, q0, q1, q2, q3);
          p2 += qdot(x2, q0, q1, q2, q3);
          p3 += qdot(x3, q0, q1, q2, q3);
          if (K_MIN) {
            s0 += xsum(x0);
            s1 += xsum(x1);
            s2 += xsum(x2);
            s3 += xsum(x3);
          }
        }
        let e0 = kScale(h0, g);
        let e1 = kScale(h1, g);
        let e2 = kScale(h2, g);
        let e3 = kScale(h3, g);
        let d = vec4<f32>(e0.x, e1.x, e2.x, e3.x);
        let m = vec4<f32>(e0.y, e1.y, e2.y, e3.y);
        a0 = fold(a0, d, m, p0, s0);
        a1 = fold(a1, d, m, p1, s1);
        a2 = fold(a2, d, m, p2, s2);
        a3 = fold(a3, d, m, p3, s3);
      }
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
        let h0 = kHead(w0o + b * KB_BYTES);
        let h1 = kHead(w1o + b * KB_BYTES);
        let h2 = kHead(w2o + b * KB_BYTES);
        let h3 = kHead(w3o + b * KB_BYTES);
        for (var g = 0u; g < KG; g++) {
          var p = vec4<f32>();
          var s = 0.0;
          for (var c = 0u; c < KGC; c++) {
            let xv = x[xo + b * 64u + g * KGC + c];
            p += qdot(xv, kChunk(h0, g, c), kChunk(h1, g, c), kChunk(h2, g, c), kChunk(h3, g, c));
            if (K_MIN) { s += xsum(xv); }
          }
          let e0 = kScale(h0, g);
          let e1 = kScale(h1, g);
          let e2 = kScale(h2, g);
          let e3 = kScale(h3, g);
          let d = vec4<f32>(e0.x, e1.x, e2.x, e3.x);
          let m = vec4<f32>(e0.y, e1.y, e2.y, e3.y);
          a = fold(a, d, m, p, s);
        }
      }
      store(r, c0, a);
    }
  }
}
