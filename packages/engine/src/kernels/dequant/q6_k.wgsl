// Q6_K super-block decode for matmul-qk.wgsl (210 bytes: ql u8[128] @0, qh u8[64] @128, scales i8[16]
// @192, d f16 @208). Element j = 128h + 32t + l: low 4 bits from ql[64h + 32(t & 1) + l] (low nibble for
// t < 2, else high), high 2 bits (qh[32h + l] >> 2t) & 3; w = d * scales[j / 16] * (q - 32). Groups are
// the 16 runs of 16 elements sharing a scale. Blocks are 2-aligned only (rd32).

const KB_BYTES: u32 = 210u;
/** Groups (runs of elements sharing one scale) per super-block and 4-element chunks per group. */
const KG: u32 = 16u;
const KGC: u32 = 4u;
const K_MIN: bool = false;

struct KHead { a: u32, d: f32, dmin: f32, s0: u32, s1: u32, s2: u32 }

fn kHead(a: u32) -> KHead {
  return KHead(a, f16at(a + 208u), 0.0, 0u, 0u, 0u);
}

/** (d * scale, 0) of group g, the product rounded to f32 as the reference dequantizer does. */
fn kScale(h: KHead, g: u32) -> vec2<f32> {
  return vec2<f32>(h.d * f32(i8at(h.a + 192u + g)), 0.0);
}

/** Quants of elements 4c .. 4c+3 of group g as f32, centred, before the scale. */
fn kChunk(h: KHead, g: u32, c: u32) -> vec4<f32> {
  let s = g >> 1u; // 32-element quarter 4h + t
  let hh = s >> 2u;
  let t = s & 3u;
  let l = 16u * (g & 1u) + 4u * c;
  let lo = nib4(rd32(h.a + 64u * hh + 32u * (t & 1u) + l), (t >> 1u) * 4u);
  let hi = (vec4<u32>(rd32(h.a + 128u + 32u * hh + l)) >> (vec4<u32>(0u, 8u, 16u, 24u) + 2u * t)) & vec4<u32>(3u);
  return vec4<f32>(vec4<i32>(lo | (hi << vec4<u32>(4u))) - vec4<i32>(32));
}
