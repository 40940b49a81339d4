// rope: rotary position embedding (Hugging Face rotate-half) in place on HEADS heads of HEAD_DIM values per
// row, stored at x[r * STRIDE + OFFSET + h * HEAD_DIM + d]. Dims d and d + HALF rotate by the row's angle i:
//   x[d] = x[d] * cos - x[d + HALF] * sin;  x[d + HALF] = x[d + HALF] * cos + x[d] * sin.
// Must match reference.ts ropeRef (cos/sin tables from ropeTables, shared bit-for-bit with the CPU backend).
//
// Bindings (group 0):
//   0 uniform     Dims { rows }
//   1 read_write  x:   array<f32>  [rows, STRIDE]  (heads at OFFSET .. OFFSET + HEADS * HEAD_DIM)
//   2 read        cos: array<f32>  [rows, HALF]
//   3 read        sin: array<f32>  [rows, HALF]
// Workgroup: WG threads, one per (row, head, i < HALF). Dispatch: ceil(rows * HEADS * HALF / WG), folded 2D.
// Numerics: f32, two products and one add per output; each thread touches its own pair only.

override HEADS: u32;
override HEAD_DIM: u32;
override HALF: u32;
override STRIDE: u32;
override OFFSET: u32 = 0u;
override WG: u32 = 64u;

struct Dims { rows: u32 }

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> cosT: array<f32>;
@group(0) @binding(3) var<storage, read> sinT: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= dims.rows * HEADS * HALF) { return; }
  let i = t % HALF;
  let h = (t / HALF) % HEADS;
  let r = t / (HALF * HEADS);
  let c = cosT[r * HALF + i];
  let s = sinT[r * HALF + i];
  let o = r * STRIDE + OFFSET + h * HEAD_DIM + i;
  let x1 = x[o];
  let x2 = x[o + HALF];
  x[o] = x1 * c - x2 * s;
  x[o + HALF] = x2 * c + x1 * s;
}
