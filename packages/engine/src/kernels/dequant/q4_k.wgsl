// Q4_K super-block decode for matmul-qk.wgsl (144 bytes: d f16 @0, dmin f16 @2, scales u8[12] @4,
// qs u8[128] @16; sub-block s of 32 takes the low (s even) or high nibble of qs[32 * (s / 2) + l];
// w = d * sc[s] * q - dmin * mn[s]). Blocks are 4-aligned. Needs kscale.wgsl.

const KB_BYTES: u32 = 144u;
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
  return vec4<f32>(nib4(rd32a(h.a + 16u + 32u * (g >> 1u) + 4u * c), (g & 1u) * 4u));
}
