// Q8_0 block decode for matmul-q32.wgsl (34 bytes: d f16 @0, qs i8[32] @2; w = d * q). Blocks are
// 2-aligned only, so the quants are read with rd32.

const QB_BYTES: u32 = 34u;
const QB_MIN: bool = false;

struct QHead { d: f32, m: f32, a: u32, qh: u32 }

fn qHead(a: u32) -> QHead {
  return QHead(f16at(a), 0.0, a, 0u);
}

/** Quants of elements 4c .. 4c+3 (c in 0..7) as f32, before the scale. */
fn qChunk(h: QHead, c: u32) -> vec4<f32> {
  return vec4<f32>(i8x4(rd32(h.a + 2u + 4u * c)));
}
