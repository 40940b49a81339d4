// bench/attention v4 (3 passes), pass 1: scores[h, j] = q(row of j, h) . k(cell j) * SCALE for every
// entry j of every row's gather list (thread per (head, entry), row found by binary search). No barriers.
// Measured on llvmpipe at 1 row x 1024 cells: the three passes together ~1.3-2x faster than the shipped
// one-kernel online softmax, but it needs [heads, total list length] scratch (too big for long prefills
// without row chunking) and three dispatches (~1 ms each on SwiftShader), so it was not adopted.
override HEADS: u32; override KV_HEADS: u32; override HEAD_DIM: u32; override Q_STRIDE: u32; override CELLS: u32; override SCALE: f32; override WG: u32 = 64u;
struct Dims { rows: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kv: array<f32>;
@group(0) @binding(3) var<storage, read> gather: array<u32>;
@group(0) @binding(4) var<storage, read_write> scores: array<f32>; // [HEADS, total]
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * WG;
  let rows = dims.rows;
  let total = gather[rows];
  if (t >= total * HEADS) { return; }
  let h = t / total; let j = t % total;
  // find row r with gather[r] <= j < gather[r+1] (binary search)
  var lo = 0u; var hi = rows;
  while (hi - lo > 1u) { let mid = (lo + hi) / 2u; if (gather[mid] <= j) { lo = mid; } else { hi = mid; } }
  let r = lo;
  let cell = min(gather[rows + 1u + j], CELLS - 1u);
  let kvDim = KV_HEADS * HEAD_DIM;
  let ko = cell * 2u * kvDim + (h / (HEADS / KV_HEADS)) * HEAD_DIM;
  let qo = r * Q_STRIDE + h * HEAD_DIM;
  var s = 0.0;
  for (var d = 0u; d < HEAD_DIM; d++) { s += q[qo + d] * kv[ko + d]; }
  scores[t] = s * SCALE;
}
