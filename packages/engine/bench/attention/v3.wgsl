// bench/attention v3: v2 plus a tree reduction for the chunk max (6 barrier steps instead of a 64-step
// loop per thread). llvmpipe 1.2-2x faster than shipped, SwiftShader mixed (more barriers); not adopted yet.

override HEADS: u32;
override KV_HEADS: u32;
override HEAD_DIM: u32;
override Q_STRIDE: u32;
override Q_OFFSET: u32 = 0u;
override CELLS: u32;
override SCALE: f32;
override WG: u32 = 64u;

struct Dims { rows: u32 }

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kv: array<f32>;
@group(0) @binding(3) var<storage, read> gather: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> qs: array<f32, HEAD_DIM>;
var<workgroup> acc: array<f32, HEAD_DIM>;
var<workgroup> p: array<f32, WG>; // the chunk's scores, then its softmax weights
var<workgroup> cellOf: array<u32, WG>;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let id = wid.x + wid.y * nwg.x;
  if (id >= dims.rows * HEADS) { return; } // uniform per workgroup
  let r = id / HEADS;
  let h = id % HEADS;
  let kvDim = KV_HEADS * HEAD_DIM;
  let kvHead = (h / (HEADS / KV_HEADS)) * HEAD_DIM;
  let qo = r * Q_STRIDE + Q_OFFSET + h * HEAD_DIM;
  for (var d = lid; d < HEAD_DIM; d += WG) {
    qs[d] = q[qo + d];
    acc[d] = 0.0;
  }
  workgroupBarrier();
  let lists = dims.rows + 1u;
  let start = gather[r];
  let end = gather[r + 1u];
  var m = -3.0e38;
  var l = 0.0;
  for (var c0 = start; c0 < end; c0 += WG) {
    let cnt = min(WG, end - c0);
    if (lid < cnt) {
      let cell = min(gather[lists + c0 + lid], CELLS - 1u);
      cellOf[lid] = cell;
      let ko = cell * 2u * kvDim + kvHead;
      var s = 0.0;
      for (var d = 0u; d < HEAD_DIM; d++) { s += qs[d] * kv[ko + d]; }
      p[lid] = s * SCALE;
    }
    red[lid] = select(-3.0e38, p[lid], lid < cnt);
    for (var s2 = WG / 2u; s2 > 0u; s2 >>= 1u) {
      workgroupBarrier();
      if (lid < s2) { red[lid] = max(red[lid], red[lid + s2]); }
    }
    workgroupBarrier();
    let cm = max(m, red[0]);
    if (lid < cnt) { p[lid] = exp(p[lid] - cm); }
    workgroupBarrier();
    let corr = exp(m - cm);
    l = l * corr;
    if (lid < HEAD_DIM) {
      var a = acc[lid] * corr;
      for (var t = 0u; t < cnt; t++) {
        let e = p[t];
        l += e;
        a += e * kv[cellOf[t] * 2u * kvDim + kvDim + kvHead + lid];
      }
      acc[lid] = a;
      for (var d = lid + WG; d < HEAD_DIM; d += WG) {
        var b = acc[d] * corr;
        for (var t = 0u; t < cnt; t++) { b += p[t] * kv[cellOf[t] * 2u * kvDim + kvDim + kvHead + d]; }
        acc[d] = b;
      }
    }
    m = cm;
    workgroupBarrier();
  }
  let oo = (r * HEADS + h) * HEAD_DIM;
  for (var d = lid; d < HEAD_DIM; d += WG) {
    out[oo + d] = select(0.0, acc[d] / l, l > 0.0);
  }
}
