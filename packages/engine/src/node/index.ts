// Node-only surface of @pipemesh/engine (Dawn WebGPU, file system sources, worker_threads).
export {};
