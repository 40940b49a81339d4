// BF16 decode for matmul-f16.wgsl: two bfloat16 of a word (lower-addressed first) as f32; a bf16 is the
// high half of an f32, so decoding is a shift, exact.

fn decode2(v: u32) -> vec2<f32> {
  return vec2<f32>(bitcast<f32>(v << 16u), bitcast<f32>(v & 0xffff0000u));
}
