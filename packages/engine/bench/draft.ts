// `npm run bench:draft [-- --model DIR] [--prompt N] [--tokens N] [--passes N] [--warmup-ms N]
// [--no-chromium] [--json FILE]`: draft
// tokens/s of every drafter in one run, on the same draft model and workloads (test/support/
// draft-scenarios.ts: prefill, greedy chain, 3-branch trees, a wide batch, cache hits): the ORT drafter on
// onnxruntime-web wasm in Node (contexts batched per session run, and one by one), the engine drafter on
// the CPU and on WebGPU (Dawn) in Node, and in headless Chromium, each in its own Web Worker, the ORT
// drafter on wasm and on WebGPU and the engine drafter on WebGPU, and ORT wasm again with V8's optimizing
// tier from the start (--js-flags=--no-liftoff). Each row: --warmup-ms of short passes
// (wasm tier-up), then the best of --passes passes per scenario. Prints numbers; asserts nothing.
// Default model: public/models/pipemesh-tiny/draft, else the training tool's smoke draft, else the fixture.

import { existsSync, writeFileSync } from "node:fs";
import { arch, cpus, hostname, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { DraftModel } from "../src/draft/draft-model.ts";
import { loadDrafter, type LoadDrafterOptions } from "../src/draft/load-drafter.ts";
import { loadModelConfig } from "../src/loader/model-files.ts";
import { requestDawnGpu } from "../src/node/dawn.ts";
import { openModelDir } from "../src/node/file-source.ts";
import { chromiumPath, launchChromium } from "../test/support/chromium.ts";
import { measureDraftScenarios, type DraftRates } from "../test/support/draft-scenarios.ts";
import { startHarnessServer } from "../test/support/harness-server.ts";
import type { BenchRequest, DrafterHarness } from "../test/support/ort-harness/main.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const CANDIDATES = [
  `${root}public/models/pipemesh-tiny/draft`,
  `${root}tools/train-default-model/work/smoke/out/draft`,
  `${root}packages/engine/test/fixtures/onnx/llama-chat-draft`,
];
const HARNESS_DIR = fileURLToPath(new URL("../test/support/ort-harness/", import.meta.url));

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    prompt: { type: "string", default: "128" },
    tokens: { type: "string", default: "64" },
    passes: { type: "string", default: "3" },
    "warmup-ms": { type: "string", default: "10000" },
    "no-chromium": { type: "boolean", default: false },
    json: { type: "string" },
  },
});
const model = values.model ?? CANDIDATES.find((d) => existsSync(`${d}/onnx/model.onnx`)) ?? "";
const promptLength = Number(values.prompt);
const tokens = Number(values.tokens);
const passes = Number(values.passes);
const warmupMs = Number(values["warmup-ms"]);

interface Row {
  where: string;
  drafter: string;
  provider: string;
  rates?: DraftRates | undefined;
  error?: string | undefined;
}

const COLUMNS = [
  "prefill tokens/s",
  "chain draft tokens/s",
  "chain tokens/s at the median step",
  "tree draft tokens/s",
  "wide batch (8) tokens/s",
  "cache hits contexts/s",
];

function print(rows: readonly Row[]): void {
  const head = [
    "where",
    "drafter",
    "provider",
    "prefill",
    "chain",
    "chain (median step)",
    "tree",
    "wide 8",
    "cache hits",
  ];
  console.log(`| ${head.join(" | ")} |`);
  console.log(`|${head.map(() => "---").join("|")}|`);
  for (const r of rows) {
    const cells =
      r.rates === undefined
        ? [`unavailable: ${r.error ?? "?"}`]
        : COLUMNS.map((c) => (r.rates?.[c] ?? NaN).toFixed(1));
    console.log(`| ${[r.where, r.drafter, r.provider, ...cells].join(" | ")} |`);
  }
}

async function nodeRow(
  where: string,
  label: string,
  options: Omit<LoadDrafterOptions, "draftDir">,
): Promise<Row> {
  let d: DraftModel | undefined;
  try {
    const loaded = await loadDrafter({ ...options, draftDir: model, openDir: openModelDir });
    d = loaded.drafter;
    const rates = await measureDraftScenarios(d, { promptLength, tokens, passes, warmupMs });
    return { where, drafter: loaded.name, provider: `${loaded.executionProvider}${label}`, rates };
  } catch (e) {
    return { where, drafter: options.kind ?? "?", provider: label, error: (e as Error).message };
  } finally {
    await d?.destroy();
  }
}

async function chromiumRows(
  runs: readonly [string, Partial<BenchRequest>][],
  jsFlags?: string,
): Promise<Row[]> {
  if (chromiumPath() === null) {
    return [{ where: "Chromium", drafter: "-", provider: "-", error: "no Chromium" }];
  }
  const where = jsFlags === undefined ? "Chromium worker" : `Chromium worker, ${jsFlags}`;
  const server = await startHarnessServer(HARNESS_DIR);
  const session = await launchChromium({
    extraArgs: jsFlags === undefined ? [] : [`--js-flags=${jsFlags}`],
  });
  const rows: Row[] = [];
  try {
    const page = await session.newPage();
    await page.goto(server.url);
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
    for (const [name, extra] of runs) {
      const req: BenchRequest = {
        draftDir: server.fsPath(model),
        kind: "ort",
        promptLength,
        tokens,
        passes,
        warmupMs,
        ...extra,
      };
      try {
        const out = await page.evaluate(
          (r) =>
            (globalThis as unknown as { drafterHarness: DrafterHarness }).drafterHarness.benchDraft(
              r,
            ),
          req,
        );
        rows.push({
          where,
          drafter: out.info.name,
          provider: out.info.executionProvider,
          rates: out.rates,
        });
      } catch (e) {
        rows.push({
          where,
          drafter: name,
          provider: "-",
          error: (e as Error).message,
        });
      }
    }
  } finally {
    await session.close();
    await server.close();
  }
  return rows;
}

async function main(): Promise<void> {
  if (model === "") throw new Error("no draft model with onnx/model.onnx found; pass --model DIR");
  const config = await loadModelConfig(openModelDir(model));
  const rows: Row[] = [];
  rows.push(await nodeRow("Node", "", { kind: "ort", ort: { executionProvider: "wasm" } }));
  rows.push(
    await nodeRow("Node", " (one by one)", {
      kind: "ort",
      ort: { executionProvider: "wasm", batchContexts: false },
    }),
  );
  rows.push(await nodeRow("Node", "", { kind: "engine", engine: { backend: "cpu" } }));
  let device: unknown;
  try {
    device = await requestDawnGpu({ warn: () => undefined });
  } catch (e) {
    rows.push({
      where: "Node",
      drafter: "engine",
      provider: "webgpu",
      error: (e as Error).message,
    });
  }
  if (device !== undefined) {
    rows.push(await nodeRow("Node", "", { kind: "engine", engine: { backend: "webgpu", device } }));
  }
  if (!values["no-chromium"]) {
    rows.push(
      ...(await chromiumRows([
        ["ort wasm", { kind: "ort", executionProvider: "wasm" }],
        ["ort webgpu", { kind: "ort", executionProvider: "webgpu" }],
        ["engine webgpu", { kind: "engine", engineBackend: "webgpu" }],
      ])),
    );
    // V8 keeps much of onnxruntime's wasm on its baseline tier (Liftoff) in Chromium; optimized code
    // from the start shows the steady state (what V8's wasm code cache gives a returning page).
    rows.push(
      ...(await chromiumRows(
        [["ort wasm", { kind: "ort", executionProvider: "wasm" }]],
        "--no-liftoff",
      )),
    );
  }

  const cpu = cpus()[0]?.model ?? "?";
  console.log(
    `draft model: ${model} (${config.numLayers} layers, hidden ${config.hiddenSize}, vocab ${config.vocabSize}); ` +
      `prompt ${promptLength} tokens, chain of ${tokens}; ${hostname()} ${arch()} ${cpus().length}x ${cpu}; ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}; ${new Date().toISOString()}`,
  );
  print(rows);
  if (values.json !== undefined) {
    writeFileSync(values.json, JSON.stringify({ model, promptLength, tokens, rows }, null, 2));
  }
}

await main();
process.exit(0);
