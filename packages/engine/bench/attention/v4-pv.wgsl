// bench/attention v4 (3 passes), pass 3: out[r, h, d] = sum_j p[h, j] * v(cell j)[d], one thread per
// (row, head, d), serial over the row's list.
override HEADS: u32; override KV_HEADS: u32; override HEAD_DIM: u32; override CELLS: u32; override WG: u32 = 64u;
struct Dims { rows: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> kv: array<f32>;
@group(0) @binding(2) var<storage, read> gather: array<u32>;
@group(0) @binding(3) var<storage, read> probs: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * WG;
  let rows = dims.rows;
  if (t >= rows * HEADS * HEAD_DIM) { return; }
  let d = t % HEAD_DIM; let h = (t / HEAD_DIM) % HEADS; let r = t / (HEAD_DIM * HEADS);
  let total = gather[rows];
  let o = h * total;
  let kvDim = KV_HEADS * HEAD_DIM;
  let vo = kvDim + (h / (HEADS / KV_HEADS)) * HEAD_DIM + d;
  var a = 0.0;
  for (var j = gather[r]; j < gather[r + 1u]; j++) {
    let cell = min(gather[rows + 1u + j], CELLS - 1u);
    a += probs[o + j] * kv[cell * 2u * kvDim + vo];
  }
  out[t] = a;
}
