// Q6_K super-block decode for matmul-qk.wgsl (210 bytes: ql u8[128] @0, qh u8[64] @128, scales i8[16]
// @192, d f16 @208). Element j = 128h + 32t + l: low 4 bits from ql[64h + 32(t & 1) + l] (low nibble for
// t < 2, else high), high 2 bits (qh[32h + l] >> 2t) & 3; w = d * scales[j / 16] * (q - 32). Groups are
// the 16 runs of 16 elements sharing a scale;
// unit u = 2h + half decodes, from the same ql/qh bytes, the groups t = 0..3 of elements
// 128h + 32t + 16 half .. + 15. Blocks are 2-aligned only (rd32).

const KB_BYTES: u32 = 210u;
/** 4-element chunks per group (16 elements sharing a scale); units (4 groups decoded from the same bytes)
 *  per super-block; groups per unit. */
const KGC: u32 = 4u;
const KU: u32 = 4u;
const KUG: u32 = 4u;
const K_MIN: bool = false;

struct KHead { a: u32, d: f32, dmin: f32, s0: u32, s1: u32, s2: u32 }

fn kHead(a: u32) -> KHead {
  return KHead(a, f16at(a + 208u), 0.0, 0u, 0u, 0u);
}

/** (d * scale, 0) of group g, the product rounded to f32 as the reference dequantizer does. */
fn kScale(h: KHead, g: u32) -> vec2<f32> {
  return vec2<f32>(h.d * f32(i8at(h.a + 192u + g)), 0.0);
}

/** Group i (quarter t = i) of unit u = 2h + half: elements 128h + 32i + 16 half .. + 15. */
fn kGroup(u: u32, i: u32) -> u32 {
  return 8u * (u >> 1u) + 2u * i + (u & 1u);
}

/** Chunk c (0..3) of unit u's 4 groups as f32 quants, centred, before the scale. */
fn kUnit(h: KHead, u: u32, c: u32) -> Q4 {
  let hh = u >> 1u;
  let l = 16u * (u & 1u) + 4u * c;
  let v0 = rd32(h.a + 64u * hh + l);
  let v1 = rd32(h.a + 64u * hh + 32u + l);
  let hb = vec4<u32>(rd32(h.a + 128u + 32u * hh + l)) >> vec4<u32>(0u, 8u, 16u, 24u);
  let m3 = vec4<u32>(3u);
  let q0 = nib4(v0, 0u) | ((hb & m3) << vec4<u32>(4u));
  let q1 = nib4(v1, 0u) | (((hb >> vec4<u32>(2u)) & m3) << vec4<u32>(4u));
  let q2 = nib4(v0, 4u) | (((hb >> vec4<u32>(4u)) & m3) << vec4<u32>(4u));
  let q3 = nib4(v1, 4u) | (((hb >> vec4<u32>(6u)) & m3) << vec4<u32>(4u));
  let z = vec4<i32>(32);
  return Q4(
    vec4<f32>(vec4<i32>(q0) - z),
    vec4<f32>(vec4<i32>(q1) - z),
    vec4<f32>(vec4<i32>(q2) - z),
    vec4<f32>(vec4<i32>(q3) - z),
  );
}
