// GGUF fixtures (F32, F16, BF16 qwen2, Q4_K_M-like and legacy-quant mixes, tied and untied, GQA) on the CPU
// backend give transformers' float64 greedy tokens, whole and split per layer (suite: gguf-golden.ts).

import { ggufGoldenSuite } from "../suites/gguf-golden.ts";

ggufGoldenSuite("cpu");
