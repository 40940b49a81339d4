// Byte-addressed reads of stored weight bytes bound as `w: array<u32>` (the raw little-endian bytes,
// zero-padded to whole words): an unaligned u32, an aligned u32, a 16-bit field and a signed byte. Shared
// by the packed matmul kernels; the kernel source declares `w` and the override W_LAST (its last word
// index: reads past it are clamped, never used). Not a decoder of any type: see the per-type files.

/** Two 4-element chunks of decoded quants (the legacy decoders' qPair result). */
struct Q2 { lo: vec4<f32>, hi: vec4<f32> }

/** Up to four 4-element chunks of decoded quants, one per group of a K-quant unit (kUnit's result). */
struct Q4 { a: vec4<f32>, b: vec4<f32>, c: vec4<f32>, d: vec4<f32> }

/** The 4 bytes at byte address a (any alignment), little-endian. */
fn rd32(a: u32) -> u32 {
  let i = a >> 2u;
  let s = (a & 3u) * 8u;
  let lo = w[i];
  let hi = w[min(i + 1u, W_LAST)];
  return select((lo >> s) | (hi << (32u - s)), lo, s == 0u);
}

/** The 4 bytes at byte address a, a multiple of 4. */
fn rd32a(a: u32) -> u32 {
  return w[a >> 2u];
}

/** The 16-bit field at byte address a, a multiple of 2. */
fn rd16(a: u32) -> u32 {
  return (w[a >> 2u] >> ((a & 2u) * 8u)) & 0xffffu;
}

/** The IEEE half at byte address a (a multiple of 2) as f32 (core unpack2x16float, no f16 feature). */
fn f16at(a: u32) -> f32 {
  return unpack2x16float(rd16(a)).x;
}

/** The signed byte at byte address a. */
fn i8at(a: u32) -> i32 {
  return bitcast<i32>(w[a >> 2u] << (24u - (a & 3u) * 8u)) >> 24u;
}

/** The 4 signed bytes of a word, lowest-addressed first. */
fn i8x4(v: u32) -> vec4<i32> {
  return bitcast<vec4<i32>>(vec4<u32>(v) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u);
}

/** The nibble at bit `s` (0 or 4) of each of the 4 bytes of a word, lowest-addressed first. */
fn nib4(v: u32, s: u32) -> vec4<u32> {
  return (vec4<u32>(v) >> (vec4<u32>(0u, 8u, 16u, 24u) + s)) & vec4<u32>(15u);
}

/** Bit `s` (0..7) of each of the 4 bytes of a word, lowest-addressed first. */
fn bit4(v: u32, s: u32) -> vec4<u32> {
  return (vec4<u32>(v) >> (vec4<u32>(0u, 8u, 16u, 24u) + s)) & vec4<u32>(1u);
}
