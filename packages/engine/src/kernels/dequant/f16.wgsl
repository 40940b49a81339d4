// F16 decode for matmul-f16.wgsl: two IEEE halves of a word (lower-addressed first) as f32, through the
// core unpack2x16float (no shader-f16 feature).

fn decode2(v: u32) -> vec2<f32> {
  return unpack2x16float(v);
}
