// Q8_0 block decode for matmul-q32.wgsl (34 bytes: d f16 @0, qs i8[32] @2; w = d * q). Blocks are
// 2-aligned only, so the quants are read with rd32.

const QB_BYTES: u32 = 34u;
const QB_MIN: bool = false;

struct QHead { d: f32, m: f32, a: u32, qh: u32 }

fn qHead(a: u32) -> QHead {
  return QHead(f16at(a), 0.0, a, 0u);
}

/** Quants of elements 4m .. 4m+3 (lo) and 16+4m .. 16+4m+3 (hi), m in 0..3, as f32, before the scale. */
fn qPair(h: QHead, m: u32) -> Q2 {
  return Q2(vec4<f32>(i8x4(rd32(h.a + 2u + 4u * m))), vec4<f32>(i8x4(rd32(h.a + 18u + 4u * m))));
}
