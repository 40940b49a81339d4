// attention: grouped-query attention of each (row, query head) over the row's own list of KV cells.
// Row r visits cells gather[ROWS + 1 + gather[r] .. ROWS + 1 + gather[r + 1]) in list order (the host
// sorts them by position); query head h reads KV head h / (HEADS / KV_HEADS). out = softmax(q.k * SCALE) . v.
// Must match reference.ts attentionRef (with kCache/vCache interleaved per cell as below).
//
// Bindings (group 0):
//   0 uniform     Dims { rows }
//   1 read        q:      array<f32>  [rows, Q_STRIDE]  query heads at Q_OFFSET + h * HEAD_DIM
//   2 read        kv:     array<f32>  [CELLS, 2, KV_HEADS, HEAD_DIM]  (K then V of each cell)
//   3 read        gather: array<u32>  [rows + 1 offsets, then the cell lists]
//   4 read_write  out:    array<f32>  [rows, OUT_STRIDE]  (HEADS * HEAD_DIM used: a padded matmul input)
// Workgroup: WG threads per (row, head). Dispatch: rows * HEADS workgroups, folded 2D.
// Numerics: f32 online softmax over chunks of WG cells: thread t scores cell t of the chunk (a sequential
// dot over HEAD_DIM), every thread then folds the chunk's scores in list order into the running max m, sum
// l and its own output dims acc[d]. The chunking depends on WG only, so each row's result is a fixed
// function of its q, its list and the cells' K/V: independent of the batch and of where cells sit.

override HEADS: u32;
override KV_HEADS: u32;
override HEAD_DIM: u32;
override Q_STRIDE: u32;
override Q_OFFSET: u32 = 0u;
override CELLS: u32;
override SCALE: f32;
override OUT_STRIDE: u32 = HEADS * HEAD_DIM;
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
    workgroupBarrier();
    var cm = m;
    for (var t = 0u; t < cnt; t++) { cm = max(cm, p[t]); }
    workgroupBarrier();
    if (lid < cnt) { p[lid] = exp(p[lid] - cm); }
    workgroupBarrier();
    let corr = exp(m - cm);
    l = l * corr;
    for (var t = 0u; t < cnt; t++) { l += p[t]; }
    for (var d = lid; d < HEAD_DIM; d += WG) {
      var a = acc[d] * corr;
      for (var t = 0u; t < cnt; t++) { a += p[t] * kv[cellOf[t] * 2u * kvDim + kvDim + kvHead + d]; }
      acc[d] = a;
    }
    m = cm;
    workgroupBarrier();
  }
  let oo = r * OUT_STRIDE + h * HEAD_DIM;
  for (var d = lid; d < HEAD_DIM; d += WG) {
    out[oo + d] = select(0.0, acc[d] / l, l > 0.0);
  }
}
