// Q5_1 block decode for matmul-q32.wgsl (24 bytes: d f16 @0, m f16 @2, qh u32 @4, qs u8[16] @8; q as
// Q5_0; w = d * q + m). Blocks are 4-aligned.

const QB_BYTES: u32 = 24u;
const QB_MIN: bool = true;

struct QHead { d: f32, m: f32, a: u32, qh: u32 }

fn qHead(a: u32) -> QHead {
  let dm = unpack2x16float(rd32a(a));
  return QHead(dm.x, dm.y, a, rd32a(a + 4u));
}

/** Quants of elements 4m .. 4m+3 (lo) and 16+4m .. 16+4m+3 (hi), m in 0..3, as f32, before scale and
 *  offset. */
fn qPair(h: QHead, m: u32) -> Q2 {
  let v = rd32a(h.a + 8u + 4u * m);
  let b = vec4<u32>(h.qh) >> (vec4<u32>(0u, 1u, 2u, 3u) + 4u * m);
  let lo = nib4(v, 0u) | ((b & vec4<u32>(1u)) << vec4<u32>(4u));
  let hi = nib4(v, 4u) | (((b >> vec4<u32>(16u)) & vec4<u32>(1u)) << vec4<u32>(4u));
  return Q2(vec4<f32>(lo), vec4<f32>(hi));
}
