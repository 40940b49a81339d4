// `npm run bench:engine [-- --adapter auto|gles|swiftshader|hardware|all] [--chromium] [--quick]
// [--decode-steps N] [--no-ort] [--json FILE]`: prints, per WebGPU adapter, each kernel's GFLOP/s or GB/s
// and decode tokens/s of a random Llama-shaped model, then the same matmul shapes through onnxruntime-web
// (wasm) in this process. --chromium also times the compat (llvmpipe) and core (SwiftShader) adapters of
// headless Chromium through bench/harness.

import { writeFileSync } from "node:fs";
import { arch, cpus, hostname } from "node:os";
import { fileURLToPath } from "node:url";
import { describeAdapter } from "../src/gpu/device.ts";
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
import { BENCH_MODEL, type RandomModelShape } from "../test/support/random-model.ts";

interface AdapterResult {
  where: string;
  adapter: string;
  rows: BenchRow[];
  decode?: DecodeResult | undefined;
  error?: string | undefined;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string): boolean => process.argv.includes(name);

const quick = flag("--quick");
const steps = Number(arg("--decode-steps") ?? (quick ? 4 : 16));
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
    return { where: `Node ${choice}`, adapter: describeAdapter(ctx.adapter), rows, decode };
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
