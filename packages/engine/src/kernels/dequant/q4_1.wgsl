// Q4_1 block decode for matmul-q32.wgsl (20 bytes: d f16 @0, m f16 @2, qs u8[16] @4; nibbles as Q4_0;
// w = d * nibble + m). Blocks are 4-aligned (rows are whole 20-byte blocks).

const QB_BYTES: u32 = 20u;
const QB_MIN: bool = true;

struct QHead { d: f32, m: f32, a: u32, qh: u32 }

fn qHead(a: u32) -> QHead {
  let dm = unpack2x16float(rd32a(a));
  return QHead(dm.x, dm.y, a, 0u);
}

/** Quants of elements 4m .. 4m+3 (lo) and 16+4m .. 16+4m+3 (hi), m in 0..3, as f32, before scale and
 *  offset: the low and high nibbles of one qs word. */
fn qPair(h: QHead, m: u32) -> Q2 {
  let v = rd32a(h.a + 4u + 4u * m);
  return Q2(vec4<f32>(nib4(v, 0u)), vec4<f32>(nib4(v, 4u)));
}
