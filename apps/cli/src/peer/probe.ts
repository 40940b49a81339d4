// A short compute probe for a Node peer: the adapter it will use and a matmul speed measured on the
// backend it will run (CPU reference kernels or WebGPU). Approximate by design: it only ranks peers.

import { requestDawnGpu } from "@pipemesh/engine/node";

export interface NodeProbe {
  description: string;
  limits: Record<string, number>;
  /** Largest buffer the backend can allocate (bounds the default memory budget). */
  maxBytes: number;
  matmulGflops: number;
}

const N = 128;

function matmul(x: Float32Array, w: Float32Array, y: Float32Array, rows: number): void {
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < N; j++) {
      let acc = 0;
      for (let i = 0; i < N; i++) acc += (x[r * N + i] ?? 0) * (w[j * N + i] ?? 0);
      y[r * N + j] = acc;
    }
  }
}

/** Best of several short timed bursts after a warm-up, so JIT warm-up and load spikes do not dominate. */
function cpuGflops(bursts = 5, burstMs = 20): number {
  const x = new Float32Array(8 * N).fill(0.5);
  const w = new Float32Array(N * N).fill(0.25);
  const y = new Float32Array(8 * N);
  for (let i = 0; i < 3; i++) matmul(x, w, y, 8);
  let best = 0;
  for (let b = 0; b < bursts; b++) {
    let runs = 0;
    const start = performance.now();
    while (performance.now() - start < burstMs) {
      matmul(x, w, y, 8);
      runs++;
    }
    const s = (performance.now() - start) / 1000;
    best = Math.max(best, (runs * 2 * 8 * N * N) / s / 1e9);
  }
  return best;
}

/** `measure: false` skips the speed test (matmulGflops is then 0). */
export async function probeNodeCompute(
  backend: "webgpu" | "cpu",
  measure = true,
): Promise<NodeProbe> {
  const speed = (): number => (measure ? cpuGflops() : 0);
  if (backend === "cpu") {
    return {
      description: "cpu (TypeScript reference)",
      limits: {},
      maxBytes: 2 ** 31,
      matmulGflops: speed(),
    };
  }
  const gpu = await requestDawnGpu({ warn: () => {} });
  const lim = gpu.limits;
  const limits = {
    maxBufferSize: Number(lim.maxBufferSize),
    maxStorageBufferBindingSize: Number(lim.maxStorageBufferBindingSize),
    maxComputeWorkgroupStorageSize: lim.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: lim.maxComputeInvocationsPerWorkgroup,
  };
  const description = gpu.adapter.description;
  gpu.destroy();
  // Software adapters run at a few GFLOP/s (docs/benchmarks.md); the CPU figure ranks them well enough.
  return { description, limits, maxBytes: limits.maxBufferSize * 4, matmulGflops: speed() };
}
