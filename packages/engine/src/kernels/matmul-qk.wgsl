// Packed matmul, K-quant 256-element super-blocks (Q4_K Q5_K Q6_K): y[r, j] = sum_k x[r, k] * w[j, k]
// (+ bias[j]) (+ y[r, j] when ACCUMULATE), with w read in its stored GGUF bytes and dequantized in
// registers. The TypeScript wrapper prepends dequant/common.wgsl, dequant/kscale.wgsl and one type's
// dequant/<type>.wgsl, which define KB_BYTES, KGC (4-element chunks per group, a run of elements sharing
// one scale), KU units per super-block of KUG groups each (groups decoded from the same stored bytes: the
// low and high nibbles of Q4_K/Q5_K, the four quarters of Q6_K), K_MIN (the type subtracts a per-group
// min), KHead, kHead(addr), kGroup(u, i), kScale(head, g) = (d * sc, dmin * mn) and kUnit(head, u, c)
// (chunk c of each of the unit's groups). Same semantics, bindings and dispatch as matmul.wgsl except
// that w is the raw bytes. Not a float kernel (matmul-f16.wgsl) and not the legacy 32-element blocks
// (matmul-q32.wgsl).
//
// Bindings (group 0):
//   0 uniform     Dims { rows }
//   1 read        x:    array<vec4<f32>>  [rows, K/4] (K is a multiple of 256)
//   2 read        w:    array<u32>        N rows of K/256 super-blocks, row j at byte j * RB, zero-padded
//   3 read        bias: array<f32>        [N] (bound but unread unless HAS_BIAS)
//   4 read_write  y:    array<f32>        [rows, Y_STRIDE] (columns yOffset .. yOffset + N)
//   5 uniform     Part { yOffset, colTiles, lastCol }   fixed per bound op
// Workgroup: WG threads; each thread owns a 4-row x 4-column tile of y; its 4 columns' scales and
// 4-element quant chunks are decoded once and used for all the tile's rows.
// Numerics (f32): per super-block, per unit, per group g of the unit, per column, p = sum over the
// group's chunks in order of dot(x[4c..], q[4c..]) (q the integer quants as f32, centred for Q6_K), and
// for K_MIN types s = sum of the chunks' (x0 + x1) + (x2 + x3); then, group by group in the unit's order,
// acc = acc + (D * p - M * s) (K_MIN) or acc + D * p, with (D, M) = kScale. Then + bias, then + old y.
// That is the factoring sum (D q - M) x = D sum(q x) - M sum(x); the order depends on K and the type only.
// Full 4-row tiles and the partial last tile (rows looped one at a time) run the same per-element
// sequence, so a row's bits do not depend on the rest of its batch.

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

/** A row's accumulator after one group: p its 4 columns' quant dots, s its sum of x over the group. */
fn fold(a: vec4<f32>, d: vec4<f32>, m: vec4<f32>, p: vec4<f32>, s: f32) -> vec4<f32> {
  if (K_MIN) { return a + (d * p - m * s); }
  return a + d * p;
}

/** The 4 columns' (D, M) of group g as two vec4s (x: D per column, y: M per column). */
fn scales(h0: KHead, h1: KHead, h2: KHead, h3: KHead, g: u32) -> mat2x4<f32> {
  let e0 = kScale(h0, g);
  let e1 = kScale(h1, g);
  let e2 = kScale(h2, g);
  let e3 = kScale(h3, g);
  return mat2x4<f32>(vec4<f32>(e0.x, e1.x, e2.x, e3.x), vec4<f32>(e0.y, e1.y, e2.y, e3.y));
}

/** One row's partial dots and x sums over a unit: chunk c of each group adds to p[i] and s[i]. */
struct Part4 { pa: vec4<f32>, pb: vec4<f32>, pc: vec4<f32>, pd: vec4<f32>, s: vec4<f32> }

/** Adds chunk c of unit u (the 4 columns' decoded quants q0..q3) for the row whose x starts at xo. */
fn step(acc: Part4, xo: u32, u: u32, c: u32, q0: Q4, q1: Q4, q2: Q4, q3: Q4) -> Part4 {
  var r = acc;
  let xa = x[xo + kGroup(u, 0u) * KGC + c];
  let xb = x[xo + kGroup(u, 1u) * KGC + c];
  r.pa += qdot(xa, q0.a, q1.a, q2.a, q3.a);
  r.pb += qdot(xb, q0.b, q1.b, q2.b, q3.b);
  if (K_MIN) {
    r.s.x += xsum(xa);
    r.s.y += xsum(xb);
  }
  if (KUG > 2u) {
    let xc = x[xo + kGroup(u, 2u) * KGC + c];
    let xd = x[xo + kGroup(u, 3u) * KGC + c];
    r.pc += qdot(xc, q0.c, q1.c, q2.c, q3.c);
    r.pd += qdot(xd, q0.d, q1.d, q2.d, q3.d);
    if (K_MIN) {
      r.s.z += xsum(xc);
      r.s.w += xsum(xd);
    }
  }
  return r;
}

/** A row's accumulator after unit u: its groups folded in order. */
fn foldUnit(a: vec4<f32>, p: Part4, e: array<mat2x4<f32>, 4>) -> vec4<f32> {
  var r = fold(a, e[0][0], e[0][1], p.pa, p.s.x);
  r = fold(r, e[1][0], e[1][1], p.pb, p.s.y);
  if (KUG > 2u) {
    r = fold(r, e[2][0], e[2][1], p.pc, p.s.z);
    r = fold(r, e[3][0], e[3][1], p.pd, p.s.w);
  }
  return r;
}

/** The 4 columns' scales of unit u's groups (unused entries when KUG = 2 are never read). */
fn unitScales(h0: KHead, h1: KHead, h2: KHead, h3: KHead, u: u32) -> array<mat2x4<f32>, 4> {
  var e: array<mat2x4<f32>, 4>;
  e[0] = scales(h0, h1, h2, h3, kGroup(u, 0u));
  e[1] = scales(h0, h1, h2, h3, kGroup(u, 1u));
  if (KUG > 2u) {
    e[2] = scales(h0, h1, h2, h3, kGroup(u, 2u));
    e[3] = scales(h0, h1, h2, h3, kGroup(u, 3u));
  }
  return e;
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
  let nb = K / 256u;
  // Columns past N read column N - 1 (never stored).
  let w0o = min(c0, part.lastCol) * RB;
  let w1o = min(c0 + 1u, part.lastCol) * RB;
  let w2o = min(c0 + 2u, part.lastCol) * RB;
  let w3o = min(c0 + 3u, part.lastCol) * RB;
  if (r0 + 4u <= rows) {
    let x0o = r0 * k4;
    var a0 = vec4<f32>();
    var a1 = vec4<f32>();
    var a2 = vec4<f32>();
    var a3 = vec4<f32>();
    for (var b = 0u; b < nb; b++) {
      let h0 = kHead(w0o + b * KB_BYTES);
      let h1 = kHead(w1o + b * KB_BYTES);
      let h2 = kHead(w2o + b * KB_BYTES);
      let h3 = kHead(w3o + b * KB_BYTES);
      let xb = x0o + b * 64u;
      for (var u = 0u; u < KU; u++) {
        var p0 = Part4();
        var p1 = Part4();
        var p2 = Part4();
        var p3 = Part4();
        for (var c = 0u; c < KGC; c++) {
          let q0 = kUnit(h0, u, c);
          let q1 = kUnit(h1, u, c);
          let q2 = kUnit(h2, u, c);
          let q3 = kUnit(h3, u, c);
          p0 = step(p0, xb, u, c, q0, q1, q2, q3);
          p1 = step(p1, xb + k4, u, c, q0, q1, q2, q3);
          p2 = step(p2, xb + 2u * k4, u, c, q0, q1, q2, q3);
          p3 = step(p3, xb + 3u * k4, u, c, q0, q1, q2, q3);
        }
        let e = unitScales(h0, h1, h2, h3, u);
        a0 = foldUnit(a0, p0, e);
        a1 = foldUnit(a1, p1, e);
        a2 = foldUnit(a2, p2, e);
        a3 = foldUnit(a3, p3, e);
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
        for (var u = 0u; u < KU; u++) {
          var p = Part4();
          for (var c = 0u; c < KGC; c++) {
            let q0 = kUnit(h0, u, c);
            let q1 = kUnit(h1, u, c);
            let q2 = kUnit(h2, u, c);
            let q3 = kUnit(h3, u, c);
            p = step(p, xo + b * 64u, u, c, q0, q1, q2, q3);
          }
          a = foldUnit(a, p, unitScales(h0, h1, h2, h3, u));
        }
      }
      store(r, c0, a);
    }
  }
}
