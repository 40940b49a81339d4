// `npm run bench:engine [-- --adapter auto|gles|swiftshader|hardware|all] [--chromium] [--quick]
// [--decode-steps N] [--packed-steps N] [--no-packed] [--no-ort] [--json FILE]`: prints, per WebGPU
// adapter, each kernel's GFLOP/s or GB/s and decode tokens/s of a random Llama-shaped model, then (Node
// adapters) the packed-weight GEMV per storage type and decode tokens/s of one model stored as f32, f16,
// q8_0 and q4_k (bench/packed-bench.ts), then the same matmul shapes through onnxruntime-web (wasm) in
// this process. --chromium also times the compat (llvmpipe) and core (SwiftShader) adapters of
// headless Chromium through bench/harness.

import { writeFileSync } from "node:fs";
import { arch, cpus, hostname } from "node:os";
import { fileURLToPath } from "node:url";
import { describeAdapter, type GpuContext } from "../src/gpu/device.ts";
import { requestDawnGpu, type DawnAdapterChoice } from "../src/node/dawn.ts";
import { chromiumPath, launchChromium } from "../test/support/chromium.ts";
import { startHarnessServer } from "../test/support/harness-server.ts";
import {
  benchDecode,
  benchKernels,
  matmulShapes,
  type BenchRow,
  type DecodeResult,
} from "./kernel-bench.ts";
import { benchOrtMatmul, type OrtRow } from "./onnx-matmul.ts";
import {
  benchPackedDecode,
  benchPackedGemv,
  PACKED_DECODE_MODEL,
  PACKED_DECODE_MODEL_QUICK,
  type PackedDecodeRow,
  type PackedGemvRow,
} from "./packed-bench.ts";
import { BENCH_MODEL, type RandomModelShape } from "../test/support/random-model.ts";

interface AdapterResult {
  where: string;
  adapter: string;
  rows: BenchRow[];
  decode?: DecodeResult | undefined;
  /** Packed-weight GEMV and decode per storage type (Node adapters, unless --no-packed). */
  packed?: PackedResult | undefined;
  error?: string | undefined;
}

interface PackedResult {
  gemv: PackedGemvRow[];
  decode: PackedDecodeRow[];
  /** q4_k decode tok/s over f32 decode tok/s. */
  q4kOverF32?: number | undefined;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string): boolean => process.argv.includes(name);

const quick = flag("--quick");
const steps = Number(arg("--decode-steps") ?? (quick ? 4 : 16));
const packedSteps = Number(arg("--packed-steps") ?? (quick ? 4 : 32));
const adapterArg = (arg("--adapter") ?? "auto") as DawnAdapterChoice | "all";
const shape: RandomModelShape = quick
  ? { hidden: 128, layers: 2, heads: 4, kvHeads: 2, intermediate: 352, vocab: 1024 }
  : BENCH_MODEL;

const fmt = (v: number | undefined, digits = 2): string =>
  v === undefined ? "" : v.toFixed(digits);

function printAdapter(r: AdapterResult): void {
  console.log(`\n## ${r.where}: ${r.adapter}`);
  if (r.error !== undefined) {
    console.log(`   unavailable: ${r.error}`);
    return;
  }
  console.log("kernel           shape                                  ms/run   GFLOP/s     GB/s");
  for (const row of r.rows) {
    console.log(
      `${row.kernel.padEnd(16)} ${row.shape.padEnd(38)} ${fmt(row.msPerRun, 3).padStart(7)} ${fmt(row.gflops).padStart(9)} ${fmt(row.gbps).padStart(8)}`,
    );
  }
  const d = r.decode;
  if (d !== undefined) {
    console.log(`decode: ${d.model}`);
    console.log(
      `  prefill ${d.prefillTokens} tokens: ${fmt(d.prefillTokPerS, 1)} tok/s | decode ${d.decodeTokens} tokens: ` +
        `${fmt(d.decodeTokPerS, 1)} tok/s (with AbortSignal ${fmt(d.decodeWithSignalTokPerS, 1)}) | ` +
        `4-row verify: ${fmt(d.verifyRowsPerS, 1)} rows/s`,
    );
  }
  const p = r.packed;
  if (p !== undefined) {
    console.log("\npacked matmul    shape                  weight MB  ms/call   GB/s(w)  GFLOP/s");
    for (const g of p.gemv) {
      console.log(
        `${g.type.padEnd(16)} ${`${g.rows}x${g.k} . ${g.n}x${g.k}^T`.padEnd(22)} ${fmt(g.weightBytes / 1e6, 1).padStart(9)} ` +
          `${fmt(g.msPerCall, 3).padStart(8)} ${fmt(g.gbps).padStart(9)} ${fmt(g.gflops).padStart(8)}`,
      );
    }
    if (p.decode.length > 0) {
      console.log(`packed decode: ${p.decode[0]!.model}, ${p.decode[0]!.decodeTokens} tokens`);
      console.log("type     weight MB    tok/s  median ms/token  build s");
      for (const d of p.decode) {
        console.log(
          `${d.type.padEnd(8)} ${fmt(d.weightBytes / 1e6, 1).padStart(9)} ${fmt(d.tokPerS).padStart(8)} ` +
            `${fmt(d.msPerTokenMedian, 1).padStart(16)} ${fmt(d.buildS, 1).padStart(8)}`,
        );
      }
      if (p.q4kOverF32 !== undefined) console.log(`q4_k / f32 decode: ${fmt(p.q4kOverF32)}x`);
    }
  }
}

async function benchPacked(ctx: GpuContext): Promise<PackedResult> {
  const gemv = await benchPackedGemv(ctx, { quick });
  const decode = await benchPackedDecode(
    ctx,
    quick ? PACKED_DECODE_MODEL_QUICK : PACKED_DECODE_MODEL,
    packedSteps,
  );
  const tps = (t: string): number | undefined => decode.find((d) => d.type === t)?.tokPerS;
  const q4k = tps("q4_k");
  const f32 = tps("f32");
  return { gemv, decode, q4kOverF32: q4k !== undefined && f32 ? q4k / f32 : undefined };
}

async function benchNode(choice: DawnAdapterChoice): Promise<AdapterResult> {
  let ctx;
  try {
    ctx = await requestDawnGpu({ adapter: choice, warn: () => undefined });
  } catch (e) {
    return { where: `Node ${choice}`, adapter: "-", rows: [], error: (e as Error).message };
  }
  try {
    const rows = await benchKernels(ctx, { quick });
    const decode = await benchDecode(ctx, shape, steps);
    const packed = flag("--no-packed") ? undefined : await benchPacked(ctx);
    return { where: `Node ${choice}`, adapter: describeAdapter(ctx.adapter), rows, decode, packed };
  } finally {
    ctx.destroy();
  }
}

async function benchChromium(): Promise<AdapterResult[]> {
  if (chromiumPath() === null)
    return [{ where: "Chromium", adapter: "-", rows: [], error: "no Chromium (CHROMIUM_PATH)" }];
  const server = await startHarnessServer(fileURLToPath(new URL("./harness/", import.meta.url)));
  const session = await launchChromium();
  const out: AdapterResult[] = [];
  try {
    const page = await session.newPage();
    await page.goto(server.url);
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
    for (const kind of ["compat", "core"] as const) {
      try {
        const r = await page.evaluate(
          ([k, q, s, n]) =>
            (
              globalThis as unknown as {
                bench: {
                  run: (
                    ...a: unknown[]
                  ) => Promise<{ adapter: string; rows: BenchRow[]; decode: DecodeResult }>;
                };
              }
            ).bench.run(k, q, s, n),
          [kind, quick, shape, steps] as const,
        );
        out.push({ where: `Chromium ${kind}`, ...r });
      } catch (e) {
        out.push({
          where: `Chromium ${kind}`,
          adapter: "-",
          rows: [],
          error: (e as Error).message,
        });
      }
    }
    if (session.errors.length > 0)
      console.log(`Chromium console errors: ${session.errors.join(" | ")}`);
  } finally {
    await session.close();
    await server.close();
  }
  return out;
}

const started = new Date();
console.log(`# pipemesh engine bench, ${started.toISOString()}`);
console.log(
  `host ${hostname()}, ${arch()}, ${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}`,
);
const choices: DawnAdapterChoice[] =
  adapterArg === "all" ? ["hardware", "gles", "swiftshader"] : [adapterArg];
const results: AdapterResult[] = [];
for (const c of choices) {
  const r = await benchNode(c);
  results.push(r);
  printAdapter(r);
}
if (flag("--chromium")) {
  for (const r of await benchChromium()) {
    results.push(r);
    printAdapter(r);
  }
}
let ortRows: OrtRow[] = [];
if (!flag("--no-ort")) {
  ortRows = await benchOrtMatmul(matmulShapes(quick));
  console.log("\n## onnxruntime-web 1.30 wasm (CPU, 1 thread), same matmul shapes");
  for (const r of ortRows)
    console.log(
      `${r.shape.padEnd(24)} ${fmt(r.msPerRun, 3).padStart(8)} ms ${fmt(r.gflops).padStart(8)} GFLOP/s`,
    );
}
const json = arg("--json");
if (json !== undefined) {
  writeFileSync(
    json,
    JSON.stringify({ date: started.toISOString(), results, ort: ortRows }, null, 2),
  );
}
