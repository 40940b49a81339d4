// Q4_0 block decode for matmul-q32.wgsl (18 bytes: d f16 @0, qs u8[16] @2; element i < 16 is the low
// nibble of qs[i], i + 16 the high one; w = d * (nibble - 8)). Blocks are 2-aligned only (rd32).

const QB_BYTES: u32 = 18u;
const QB_MIN: bool = false;

struct QHead { d: f32, m: f32, a: u32, qh: u32 }

fn qHead(a: u32) -> QHead {
  return QHead(f16at(a), 0.0, a, 0u);
}

/** Quants of elements 4m .. 4m+3 (lo) and 16+4m .. 16+4m+3 (hi), m in 0..3, as f32, centred, before
 *  the scale: the low and high nibbles of one qs word. */
fn qPair(h: QHead, m: u32) -> Q2 {
  let v = rd32(h.a + 2u + 4u * m);
  let z = vec4<i32>(8);
  return Q2(vec4<f32>(vec4<i32>(nib4(v, 0u)) - z), vec4<f32>(vec4<i32>(nib4(v, 4u)) - z));
}
