// The 6-bit scale/min unpack shared by Q4_K and Q5_K: 8 (scale, min) pairs of the 12 bytes at block offset
// 4, held as three words. For sub-block s < 4: sc = S[s] & 63, mn = S[s+4] & 63; for s >= 4:
// sc = (S[s+4] & 15) | ((S[s-4] >> 6) << 4), mn = (S[s+4] >> 4) | ((S[s] >> 6) << 4).

/** (scale, min) of sub-block s (0..7) from scale words s0 = S[0..3], s1 = S[4..7], s2 = S[8..11]. */
fn kScaleMin(s0: u32, s1: u32, s2: u32, s: u32) -> vec2<u32> {
  let sh = (s & 3u) * 8u;
  let lo = (s0 >> sh) & 255u;
  let mid = (s1 >> sh) & 255u;
  let hi = (s2 >> sh) & 255u;
  let big = vec2<u32>((hi & 15u) | ((lo >> 6u) << 4u), (hi >> 4u) | ((mid >> 6u) << 4u));
  return select(big, vec2<u32>(lo & 63u, mid & 63u), s < 4u);
}
