// Q5_K super-block decode for matmul-qk.wgsl (176 bytes: d @0, dmin @2, scales u8[12] @4, qh u8[32] @16,
// qs u8[128] @48; low 4 bits as Q4_K, bit s of qh[l] is the 5th bit of element l of sub-block s;
// w = d * sc[s] * q - dmin * mn[s]). Blocks are 4-aligned. Needs kscale.wgsl.

const KB_BYTES: u32 = 176u;
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
  let v = rd32a(h.a + 48u + 32u * u + 4u * c);
  let hb = rd32a(h.a + 16u + 4u * c);
  let lo = nib4(v, 0u) | (bit4(hb, 2u * u) << vec4<u32>(4u));
  let hi = nib4(v, 4u) | (bit4(hb, 2u * u + 1u) << vec4<u32>(4u));
  return Q4(vec4<f32>(lo), vec4<f32>(hi), vec4<f32>(), vec4<f32>());
}
