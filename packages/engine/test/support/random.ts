// Seeded random numbers for GPU parity tests and benchmarks (mulberry32): the same seed gives the same
// inputs in Node and in Chromium. Test and bench code only.

export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** f32 values uniform in [-scale, scale). */
  floats(count: number, scale = 1): Float32Array {
    const a = new Float32Array(count);
    for (let i = 0; i < count; i++) a[i] = (this.next() * 2 - 1) * scale;
    return a;
  }

  /** A random permutation of 0 .. n-1. */
  permutation(n: number): Int32Array {
    const a = Int32Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }
}
