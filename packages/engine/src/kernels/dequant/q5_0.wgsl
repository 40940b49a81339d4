// Q5_0 block decode for matmul-q32.wgsl (22 bytes: d f16 @0, qh u32 @2, qs u8[16] @6; low 4 bits as
// Q4_0, bit i of qh is the 5th bit of element i; w = d * (q - 16)). Blocks are 2-aligned only (rd32).

const QB_BYTES: u32 = 22u;
const QB_MIN: bool = false;

struct QHead { d: f32, m: f32, a: u32, qh: u32 }

fn qHead(a: u32) -> QHead {
  return QHead(f16at(a), 0.0, a, rd32(a + 2u));
}

/** Quants of elements 4m .. 4m+3 (lo) and 16+4m .. 16+4m+3 (hi), m in 0..3, as f32, centred, before
 *  the scale. */
fn qPair(h: QHead, m: u32) -> Q2 {
  let v = rd32(h.a + 6u + 4u * m);
  let b = vec4<u32>(h.qh) >> (vec4<u32>(0u, 1u, 2u, 3u) + 4u * m);
  let lo = nib4(v, 0u) | ((b & vec4<u32>(1u)) << vec4<u32>(4u));
  let hi = nib4(v, 4u) | (((b >> vec4<u32>(16u)) & vec4<u32>(1u)) << vec4<u32>(4u));
  return Q2(vec4<f32>(vec4<i32>(lo) - vec4<i32>(16)), vec4<f32>(vec4<i32>(hi) - vec4<i32>(16)));
}
