// kv-write: scatters each row's K and V (after RoPE) into the KV cell the host claimed for it:
//   kv[cells[r], 0, j] = src[r * STRIDE + K_OFFSET + j];  kv[cells[r], 1, j] = src[r * STRIDE + V_OFFSET + j]
// for j < KV_DIM. Must match the cell writes of model/forward-cpu.ts layerForwardCpu (a plain copy).
//
// Bindings (group 0):
//   0 uniform     Dims { rows }
//   1 read        src:    array<f32>  [rows, STRIDE]  (fused qkv rows)
//   2 read        cells:  array<u32>  [rows]          cell index per row (from KvCache.claim)
//   3 read_write  kv:     array<f32>  [CELLS, 2, KV_DIM]  K then V per cell (KV_DIM = kvHeads * headDim)
// Workgroup: WG threads, one per (row, j). Dispatch: ceil(rows * KV_DIM / WG), folded 2D.
// Numerics: exact copies. Cells past CELLS are skipped (the host never hands them out).

override KV_DIM: u32;
override STRIDE: u32;
override K_OFFSET: u32;
override V_OFFSET: u32;
override CELLS: u32;
override WG: u32 = 64u;

struct Dims { rows: u32 }

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> cells: array<u32>;
@group(0) @binding(3) var<storage, read_write> kv: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= dims.rows * KV_DIM) { return; }
  let j = t % KV_DIM;
  let r = t / KV_DIM;
  let cell = cells[r];
  if (cell >= CELLS) { return; }
  let o = cell * 2u * KV_DIM + j;
  kv[o] = src[r * STRIDE + K_OFFSET + j];
  kv[o + KV_DIM] = src[r * STRIDE + V_OFFSET + j];
}
