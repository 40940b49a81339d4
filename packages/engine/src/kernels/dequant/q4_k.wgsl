// Q4_K super-block decode for matmul-qk.wgsl (144 bytes: d f16 @0, dmin f16 @2, scales u8[12] @4,
// qs u8[128] @16; sub-block s of 32 takes the low (s even) or high nibble of qs[32 * (s / 2) + l];
// w = d * sc[s] * q - dmin * mn[s]). Blocks are 4-aligned. Needs kscale.wgsl.

const KB_BYTES: u32 = 144u;
/** 4-element chunks per group (32 elements sharing a scale); units (2 groups decoded from the same bytes)
 *  per super-block; groups per unit. */
const KGC: u32 = 8u;
const KU: u32 = 4u;
const KUG: u32 = 2u;
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

/** Group i (0..KUG-1) of unit u: sub-blocks 2u (low nibbles) and 2u + 1 (high nibbles). */
fn kGroup(u: u32, i: u32) -> u32 {
  return 2u * u + i;
}

/** Chunk c (0..7) of unit u's groups as f32 quants (a: group 2u, b: group 2u + 1), before scale and min. */
fn kUnit(h: KHead, u: u32, c: u32) -> Q4 {
  let v = rd32a(h.a + 16u + 32u * u + 4u * c);
  return Q4(vec4<f32>(nib4(v, 0u)), vec4<f32>(nib4(v, 4u)), vec4<f32>(), vec4<f32>());
}
