// bench:spec — plain, synchronous speculative and PipeInfer decoding on the embedded model pair, with
// peers as separate processes over real WebRTC on loopback, in five scenarios (lan, wan, lowbw, wan-weak,
// and the modelled `paper` setting). Prints a table, then one JSON line: {scenarios, ratios, machine}.
// Usage: npm run bench:spec -- [--json] [--scenarios lan,wan] [--drafters ort,engine] [--max-tokens N]
//        [--prompts N] [--backend cpu|webgpu] [--plot FILE.svg] [--knobs "--p-accept 0.05 ..."]

import { writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { loadModelConfig, loadTokenizer } from "@pipemesh/engine";
import { openModelDir } from "@pipemesh/engine/node";
import { PipeInferScheduler, type DecodeMode, type GenerationResult } from "@pipemesh/mesh";
import { parseGenerateArgs } from "../src/args.ts";
import {
  kvSizing,
  MIN_SEQ_IDS,
  openDrafter,
  SPECULATIVE_CELLS,
  type OpenedDrafter,
} from "@pipemesh/head";
import { nodePlatform } from "@pipemesh/head/node";
import { openPipeline, speculationOf } from "../src/head/cli-head.ts";
import { modelledDrafter } from "../src/head/modelled-drafter.ts";
import { readDefaultPair } from "../src/head/models.ts";
import { renderSpecPlot } from "./spec-plot.ts";
import { SCENARIOS, type Scenario } from "./spec-scenarios.ts";
import { tracePipeline } from "./trace-pipeline.ts";

const PROMPTS = [
  "Once upon a time",
  "The president said that the nation",
  "And God said unto Moses,",
  "Call me Ishmael. Some years ago",
  "It was the best of times,",
];

export interface ScenarioRow {
  name: string;
  mode: DecodeMode;
  drafter: string | null;
  modelled: boolean;
  tokensPerSecond: number;
  itlP50Ms: number;
  ttftMs: number;
  acceptanceRate: number;
  tokensPerRoundTrip: number;
  runsCancelled: number;
  discardedComputeFraction: number;
  /** Every prompt's tokens equal plain decoding's (greedy). */
  exact: boolean;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0
    ? 0
    : s.length % 2 === 1
      ? (s[m] ?? 0)
      : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

function mean(xs: number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      json: { type: "boolean" },
      scenarios: { type: "string" },
      drafters: { type: "string" },
      "max-tokens": { type: "string" },
      prompts: { type: "string" },
      backend: { type: "string" },
      plot: { type: "string" },
      knobs: { type: "string" },
    },
  });
  const wanted = new Set((v.scenarios ?? SCENARIOS.map((s) => s.name).join(",")).split(","));
  const drafterKinds = (v.drafters ?? "ort,engine").split(",") as ("ort" | "engine")[];
  const maxTokens = Number(v["max-tokens"] ?? 48);
  const promptCount = Math.min(PROMPTS.length, Number(v.prompts ?? 3));
  const backend = v.backend ?? "cpu";
  const log = (m: string): void => void process.stderr.write(`${m}\n`);

  const pair = readDefaultPair();
  const targetDir = openModelDir(pair.target);
  const config = await loadModelConfig(targetDir);
  const tokenizer = await loadTokenizer(targetDir);
  const prompts = PROMPTS.slice(0, promptCount).map((p) => Array.from(tokenizer.encode(p)));
  const rows: ScenarioRow[] = [];
  const signal = new AbortController().signal;

  for (const sc of SCENARIOS.filter((s) => wanted.has(s.name))) {
    log(`== ${sc.name}: ${sc.about}`);
    const knobs = (v.knobs ?? "").split(/\s+/).filter((x) => x !== "");
    const opts = parseGenerateArgs([...scenarioArgs(sc, backend, maxTokens), ...knobs]);
    const draftDir = sc.weakDraft ? (pair.draftWeak ?? pair.draft) : pair.draft;
    const drafters: OpenedDrafter[] = [];
    for (const kind of drafterKinds) {
      drafters.push(
        await openDrafter({
          platform: nodePlatform,
          target: pair.target,
          draft: draftDir,
          kind,
          signal,
        }),
      );
    }
    const maxPositions = Math.min(config.maxPositions, ...drafters.map((d) => d.maxPositions));
    const kvCells = kvSizing({ maxPositions }).kvCells;
    const pipe = await openPipeline(opts, pair.target, config, {
      kvCells,
      maxSeqs: MIN_SEQ_IDS,
      log,
      signal,
    });
    try {
      let plainTokens: number[][] | null = null;
      const configs: [DecodeMode, OpenedDrafter | null][] = [
        ["plain", null],
        ...drafters.flatMap((d): [DecodeMode, OpenedDrafter][] => [
          ["speculative", d],
          ["pipeinfer", d],
        ]),
      ];
      for (const [mode, d] of configs) {
        const scheduler = new PipeInferScheduler(
          {
            pipeline:
              process.env["PIPEMESH_TRACE"] === "1"
                ? tracePipeline(pipe.pipeline, log)
                : pipe.pipeline,
            drafter: d === null ? null : modelledDrafter(d.drafter, opts.modelledDraftMs),
          },
          {
            mode,
            speculation: speculationOf(opts),
            maxContextTokens: Math.min(maxPositions, kvCells - SPECULATIVE_CELLS),
            maxSeqIds: MIN_SEQ_IDS,
          },
        );
        const results: GenerationResult[] = [];
        for (const p of prompts) {
          await scheduler.reset();
          await d?.drafter.reset();
          const gen = scheduler.generate({ newTokens: p, maxTokens, sampling: { temperature: 0 } });
          results.push(await gen.result);
        }
        await scheduler.reset();
        await scheduler.whenIdle();
        await scheduler.destroy();
        const tokens = results.map((r) => r.tokens);
        if (mode === "plain") plainTokens = tokens;
        const m = results.map((r) => r.metrics);
        const verified = m.reduce((a, x) => a + x.draftTokensVerified, 0);
        const row: ScenarioRow = {
          name: sc.name,
          mode,
          drafter: d?.name ?? null,
          modelled: sc.modelled !== null,
          tokensPerSecond: mean(m.map((x) => x.tokensPerSecond)),
          itlP50Ms: median(m.map((x) => x.itlP50Ms)),
          ttftMs: mean(m.map((x) => x.ttftMs)),
          acceptanceRate:
            verified === 0 ? 0 : m.reduce((a, x) => a + x.draftTokensAccepted, 0) / verified,
          tokensPerRoundTrip: mean(m.map((x) => x.meanAcceptedPerRoundTrip)),
          runsCancelled: m.reduce((a, x) => a + x.runsCancelled, 0),
          discardedComputeFraction: mean(m.map((x) => x.discardedComputeFraction)),
          exact: JSON.stringify(tokens) === JSON.stringify(plainTokens),
        };
        rows.push(row);
        log(
          `   ${mode.padEnd(11)} ${String(row.drafter ?? "-").padEnd(15)} ${row.tokensPerSecond.toFixed(2)} tok/s` +
            `  itl p50 ${row.itlP50Ms.toFixed(1)} ms  acc ${(row.acceptanceRate * 100).toFixed(0)} %` +
            `  tok/rt ${row.tokensPerRoundTrip.toFixed(2)}  exact ${row.exact}`,
        );
      }
    } finally {
      await pipe.destroy();
      for (const d of drafters) await d.drafter.destroy();
    }
  }

  const ratios = computeRatios(rows, drafterKinds[0] === "engine" ? "engine" : "onnxruntime-web");
  printTable(rows, ratios);
  if (v.plot !== undefined) writeFileSync(v.plot, renderSpecPlot(rows));
  const machine = {
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    backend,
    date: new Date().toISOString(),
  };
  process.stdout.write(`${JSON.stringify({ scenarios: rows, ratios, machine })}\n`);
}

function scenarioArgs(sc: Scenario, backend: string, maxTokens: number): string[] {
  const args = ["--prompt-ids", "1", "--peers", String(sc.peers), "--backend", backend];
  args.push("--max-tokens", String(maxTokens));
  if (sc.latencyMs > 0) args.push("--link-latency-ms", String(sc.latencyMs));
  if (sc.bandwidthMbps > 0) args.push("--link-bandwidth-mbps", String(sc.bandwidthMbps));
  if (sc.modelled !== null) {
    args.push("--modelled-stage-ms", String(sc.modelled.stageMs));
    args.push("--modelled-row-ms", String(sc.modelled.rowMs));
    args.push("--modelled-draft-ms", String(sc.modelled.draftMs));
  }
  return args;
}

type Ratios = Record<string, { pipeinferOverSpeculative: number; pipeinferOverPlain: number }>;

function computeRatios(rows: readonly ScenarioRow[], drafter: string): Ratios {
  const out: Ratios = {};
  for (const name of new Set(rows.map((r) => r.name))) {
    const get = (mode: DecodeMode): number =>
      rows.find(
        (r) => r.name === name && r.mode === mode && (mode === "plain" || r.drafter === drafter),
      )?.tokensPerSecond ?? Number.NaN;
    out[name] = {
      pipeinferOverSpeculative: get("pipeinfer") / get("speculative"),
      pipeinferOverPlain: get("pipeinfer") / get("plain"),
    };
  }
  return out;
}

function printTable(rows: readonly ScenarioRow[], ratios: Ratios): void {
  const head =
    "| scenario | mode | drafter | tok/s | ITL p50 ms | acceptance | tok/round trip | cancelled | exact |";
  const lines = [head, "|---|---|---|---|---|---|---|---|---|"];
  for (const r of rows) {
    lines.push(
      `| ${r.name}${r.modelled ? " (modelled)" : ""} | ${r.mode} | ${r.drafter ?? "-"} | ${r.tokensPerSecond.toFixed(2)} | ` +
        `${r.itlP50Ms.toFixed(1)} | ${(r.acceptanceRate * 100).toFixed(0)} % | ${r.tokensPerRoundTrip.toFixed(2)} | ` +
        `${r.runsCancelled} | ${r.exact ? "yes" : "NO"} |`,
    );
  }
  lines.push("", "| scenario | PipeInfer / speculative | PipeInfer / plain |", "|---|---|---|");
  for (const [name, r] of Object.entries(ratios)) {
    lines.push(
      `| ${name} | ${r.pipeinferOverSpeculative.toFixed(2)}x | ${r.pipeinferOverPlain.toFixed(2)}x |`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(
    `bench:spec failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exit(1);
});
