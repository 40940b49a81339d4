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

function cpuGflops(budgetMs = 100): number {
  const x = new Float32Array(8 * N).fill(0.5);
  const w = new Float32Array(N * N).fill(0.25);
  const y = new Float32Array(8 * N);
  let runs = 0;
  const start = performance.now();
  while (performance.now() - start < budgetMs) {
    matmul(x, w, y, 8);
    runs++;
  }
  const s = (performance.now() - start) / 1000;
  return (runs * 2 * 8 * N * N) / s / 1e9;
}

export async function probeNodeCompute(backend: "webgpu" | "cpu"): Promise<NodeProbe> {
  if (backend === "cpu") {
    return {
      description: "cpu (TypeScript reference)",
      limits: {},
      maxBytes: 2 ** 31,
      matmulGflops: cpuGflops(),
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
  return { description, limits, maxBytes: limits.maxBufferSize * 4, matmulGflops: cpuGflops() };
}
