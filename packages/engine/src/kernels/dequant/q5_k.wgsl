// Q5_K super-block decode for matmul-qk.wgsl (176 bytes: d @0, dmin @2, scales u8[12] @4, qh u8[32] @16,
// qs u8[128] @48; low 4 bits as Q4_K, bit s of qh[l] is the 5th bit of element l of sub-block s;
// w = d * sc[s] * q - dmin * mn[s]). Blocks are 4-aligned. Needs kscale.wgsl.

const KB_BYTES: u32 = 176u;
/** Groups (runs of elements sharing one scale) per super-block and 4-element chunks per group. */
const KG: u32 = 8u;
const KGC: u32 = 8u;
const K_MIN: bool = true;

struct KHead { a: u32, d: f32, dmin: f32, s0: u32, s1: u32, s2: u32 }

fn kHead(a: u32) -> KHead {
  let dm = unpack2x16float(rd32a(a));
  return KHead(a, dm.x, dm.y, rd32a(a + 4u), rd32a(a + 8u), rd32a(a + 12u));
}

/** (d * sc, dmin * mn) of group g, each rounded to f32 as the reference dequantizer does. */
fn kScale(h: KHead, g: u32) -> vec2<f32> {
  let sm = kScaleMin(h.s0, h.s1, h.s2, g);
  return vec2<f32>(h.d * f32(sm.x), h.dmin * f32(sm.y));
}

/** Quants of elements 4c .. 4c+3 of group g as f32, before scale and min. */
fn kChunk(h: KHead, g: u32, c: u32) -> vec4<f32> {
  let lo = nib4(rd32a(h.a + 48u + 32u * (g >> 1u) + 4u * c), (g & 1u) * 4u);
  let hi = bit4(rd32a(h.a + 16u + 4u * c), g);
  return vec4<f32>(lo | (hi << vec4<u32>(4u)));
}
