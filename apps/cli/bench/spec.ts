// bench:spec — plain, synchronous speculative and PipeInfer decoding on the embedded model pair, with
// peers as separate processes over real WebRTC on loopback, in five scenarios (lan, wan, lowbw, wan-weak,
// and the modelled `paper` setting). Each mode runs with its own tuned knobs (spec-defaults.json, written
// by --tune); modes are interleaved prompt by prompt and compared by paired ratios of end-to-end tokens/s
// (prefill included), with decode-only tokens/s beside them; every row's tokens are checked against a
// single-peer plain run. Prints the tables, then one JSON line:
// {scenarios, ratios, decodeRatios, settings, machine, elapsedMs}. Exits 1 if any row is not exact.
// Usage: npm run bench:spec -- [--scenarios lan,wan] [--drafters ort,engine] [--max-tokens N] [--prompts N]
//        [--backend cpu|webgpu] [--plot FILE.svg] [--knobs="--p-accept 0.05 ..."] [--untuned]
//        [--settings FILE.json (default apps/cli/bench/spec-defaults.json)]
//        npm run bench:spec -- --tune [--scenarios ...] [--tune-prompts N] [--tune-tokens N] [--tune-passes N]

import { writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { loadModelConfig, loadTokenizer } from "@pipemesh/engine";
import { openModelDir } from "@pipemesh/engine/node";
import type { DecodeMode, GenerationResult, PipeInferScheduler } from "@pipemesh/mesh";
import type { OpenedDrafter } from "@pipemesh/head";
import { readDefaultPair } from "../src/head/models.ts";
import {
  closeScheduler,
  encodePrompts,
  generateOnce,
  openScenario,
  PROMPTS,
  referenceTokens,
  schedulerFor,
  TUNE_PROMPTS,
  WARMUP_PROMPT,
  WARMUP_TOKENS,
  type BenchEnv,
} from "./spec-harness.ts";
import { renderSpecPlot } from "./spec-plot.ts";
import { SCENARIOS, type Scenario } from "./spec-scenarios.ts";
import {
  formatKnobs,
  knobsFor,
  readSettings,
  SETTINGS_FILE,
  type Knobs,
  type SettingsFile,
} from "./spec-settings.ts";
import {
  armFractions,
  e2eTokensPerSecond,
  formatArms,
  mean,
  median,
  pairedRatio,
} from "./spec-stats.ts";
import { tune } from "./spec-tune.ts";

export interface ScenarioRow {
  name: string;
  mode: DecodeMode;
  drafter: string | null;
  modelled: boolean;
  prompts: number;
  maxTokens: number;
  /** The knobs this mode ran with. */
  knobs: Knobs;
  /** Median over prompts of generated tokens / (request start to last token), prefill included. */
  e2eTokensPerSecond: number;
  /** Median over prompts of the scheduler's decode rate (first to last token). */
  decodeTokensPerSecond: number;
  /** Per prompt, in prompt order (the paired ratios use these). */
  e2ePerPrompt: number[];
  decodePerPrompt: number[];
  ttftMsP50: number;
  itlP50Ms: number;
  acceptanceRate: number;
  tokensPerRoundTrip: number;
  runsCancelled: number;
  discardedComputeFraction: number;
  /** Share of generated tokens per governor arm ("async", "sync", "plain"), pooled over the prompts. */
  arms: Record<string, number>;
  /** Every prompt's tokens equal the single-peer plain reference's (greedy). */
  exact: boolean;
}

type Ratios = Record<string, { pipeinferOverSpeculative: number; pipeinferOverPlain: number }>;

interface Contender {
  mode: DecodeMode;
  drafter: OpenedDrafter | null;
  knobs: Knobs;
  scheduler: PipeInferScheduler;
  results: GenerationResult[];
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const { values: v } = parseArgs({
    options: {
      json: { type: "boolean" }, // accepted for compatibility: the JSON line is always printed
      scenarios: { type: "string" },
      drafters: { type: "string" },
      "max-tokens": { type: "string" },
      prompts: { type: "string" },
      backend: { type: "string" },
      plot: { type: "string" },
      knobs: { type: "string" },
      untuned: { type: "boolean" },
      settings: { type: "string" },
      tune: { type: "boolean" },
      "tune-prompts": { type: "string" },
      "tune-tokens": { type: "string" },
      "tune-passes": { type: "string" },
    },
  });
  const wanted = new Set((v.scenarios ?? SCENARIOS.map((s) => s.name).join(",")).split(","));
  const scenarios = SCENARIOS.filter((s) => wanted.has(s.name));
  const drafterKinds = (v.drafters ?? "ort").split(",") as ("ort" | "engine")[];
  const backend = v.backend ?? "cpu";
  const log = (m: string): void => void process.stderr.write(`${m}\n`);
  const { extraArgs, firstDraftMax } = splitKnobs(v.knobs ?? "");
  const settingsFile = v.settings ?? SETTINGS_FILE;

  const pair = readDefaultPair();
  const targetDir = openModelDir(pair.target);
  const config = await loadModelConfig(targetDir);
  const tokenizer = await loadTokenizer(targetDir);
  const env: BenchEnv = { pair, config, backend, log, signal: new AbortController().signal };
  const warmup = encodePrompts(tokenizer, [WARMUP_PROMPT])[0]!;

  if (v.tune === true) {
    const prompts = encodePrompts(tokenizer, TUNE_PROMPTS.slice(0, Number(v["tune-prompts"] ?? 3)));
    const file = await tune({
      scenarios,
      drafterKind: drafterKinds[0] ?? "ort",
      prompts,
      warmup,
      maxTokens: Number(v["tune-tokens"] ?? 64),
      passes: Number(v["tune-passes"] ?? 1),
      extraArgs,
      env,
      settingsFile,
    });
    const lines = ["| scenario | speculative | pipeinfer |", "|---|---|---|"];
    for (const sc of scenarios) {
      const s = file.scenarios[sc.name];
      if (s !== undefined)
        lines.push(`| ${sc.name} | ${formatKnobs(s.speculative)} | ${formatKnobs(s.pipeinfer)} |`);
    }
    const min = (performance.now() - t0) / 60_000;
    process.stdout.write(
      `${lines.join("\n")}\nwrote ${String(v.settings ?? "apps/cli/bench/spec-defaults.json")}\ntuned in ${min.toFixed(1)} min\n`,
    );
    return;
  }

  const settings: SettingsFile | null = v.untuned === true ? null : readSettings(settingsFile);
  const promptCount = Math.min(PROMPTS.length, Number(v.prompts ?? 8));
  const prompts = encodePrompts(tokenizer, PROMPTS.slice(0, promptCount));
  const tokensFor = (sc: Scenario): number => Number(v["max-tokens"] ?? sc.benchTokens ?? 128);
  log(`== reference: single-peer plain decoding, ${promptCount} prompts`);
  const reference = await referenceTokens(prompts, Math.max(...scenarios.map(tokensFor)), env);

  const rows: ScenarioRow[] = [];
  for (const sc of scenarios) {
    const maxTokens = tokensFor(sc);
    log(`== ${sc.name}: ${sc.about}; ${promptCount} prompts x ${maxTokens} tokens`);
    const os = await openScenario(sc, drafterKinds, env);
    const contenders: Contender[] = [];
    try {
      const add = (mode: DecodeMode, d: OpenedDrafter | null): void => {
        const knobs = knobsFor(settings, sc.name, mode);
        if (mode !== "plain" && firstDraftMax !== undefined) knobs.firstDraftMax = firstDraftMax;
        const scheduler = schedulerFor(os, mode, d, knobs, mode === "plain" ? [] : extraArgs, log);
        contenders.push({ mode, drafter: d, knobs, scheduler, results: [] });
      };
      add("plain", null);
      for (const d of os.drafters) {
        add("speculative", d);
        add("pipeinfer", d);
      }
      // One short generation per scheduler first, so no mode pays the peers' and drafter's warm-up.
      for (const c of contenders) await generateOnce(c.scheduler, warmup, WARMUP_TOKENS);
      // Interleaved: every mode runs each prompt back to back, starting from a different mode per prompt.
      for (let i = 0; i < prompts.length; i++) {
        const order = contenders.map((_, k) => contenders[(i + k) % contenders.length]!);
        const line: string[] = [];
        for (const c of order) {
          const r = await generateOnce(c.scheduler, prompts[i]!, maxTokens);
          c.results[i] = r;
          line.push(
            `${c.mode}${c.drafter === null ? "" : `/${c.drafter.name}`} ${e2eTokensPerSecond(r.metrics).toFixed(2)}`,
          );
        }
        log(`   prompt ${i + 1}/${prompts.length} e2e tok/s: ${line.join(", ")}`);
      }
    } finally {
      for (const c of contenders) await closeScheduler(c.scheduler);
      await os.destroy();
    }
    for (const c of contenders) {
      const row = rowOf(sc, c, maxTokens, reference);
      rows.push(row);
      log(
        `   ${row.mode.padEnd(11)} ${String(row.drafter ?? "-").padEnd(15)} e2e ${row.e2eTokensPerSecond.toFixed(2)}` +
          `  decode ${row.decodeTokensPerSecond.toFixed(2)} tok/s  acc ${(row.acceptanceRate * 100).toFixed(0)} %` +
          `  arms ${formatArms(row.arms)}  exact ${row.exact}`,
      );
    }
  }

  const drafterName = rows.find((r) => r.drafter !== null)?.drafter ?? null;
  const ratios = computeRatios(rows, drafterName, "e2ePerPrompt");
  const decodeRatios = computeRatios(rows, drafterName, "decodePerPrompt");
  const elapsedMs = Math.round(performance.now() - t0);
  printTables(rows, ratios, decodeRatios);
  process.stdout.write(`elapsed: ${(elapsedMs / 60_000).toFixed(1)} min\n`);
  if (v.plot !== undefined) writeFileSync(v.plot, renderSpecPlot(rows));
  const machine = {
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    backend,
    loadAverage: loadavg().map((x) => Number(x.toFixed(2))),
    date: new Date().toISOString(),
  };
  const settingsOut = {
    source:
      settings !== null
        ? (v.settings ?? "apps/cli/bench/spec-defaults.json")
        : v.untuned === true
          ? "scheduler defaults (--untuned)"
          : "scheduler defaults (no spec-defaults.json)",
    tuned: settings?.tuned ?? null,
    extraKnobs: v.knobs ?? null,
    scenarios: Object.fromEntries(
      scenarios.map((sc) => [
        sc.name,
        {
          speculative: rows.find((r) => r.name === sc.name && r.mode === "speculative")?.knobs,
          pipeinfer: rows.find((r) => r.name === sc.name && r.mode === "pipeinfer")?.knobs,
        },
      ]),
    ),
  };
  process.stdout.write(
    `${JSON.stringify({ scenarios: rows, ratios, decodeRatios, settings: settingsOut, machine, elapsedMs })}\n`,
  );
  log(`bench:spec: ${(elapsedMs / 60_000).toFixed(1)} min`);
  const inexact = rows.filter((r) => !r.exact);
  if (inexact.length > 0) {
    log(
      `bench:spec: NOT EXACT against single-peer plain decoding: ${inexact
        .map((r) => `${r.name} ${r.mode} ${r.drafter ?? ""}`.trim())
        .join(", ")}`,
    );
    process.exitCode = 1;
  }
}

/** --knobs: flags for parseGenerateArgs, except --first-draft-max N (no CLI flag; set directly). */
function splitKnobs(s: string): { extraArgs: string[]; firstDraftMax: number | undefined } {
  const words = s.split(/\s+/).filter((x) => x !== "");
  const i = words.indexOf("--first-draft-max");
  if (i < 0) return { extraArgs: words, firstDraftMax: undefined };
  const n = Number(words[i + 1]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--first-draft-max must be an integer >= 1`);
  return { extraArgs: [...words.slice(0, i), ...words.slice(i + 2)], firstDraftMax: n };
}

function rowOf(
  sc: Scenario,
  c: Contender,
  maxTokens: number,
  reference: readonly (readonly number[])[],
): ScenarioRow {
  const m = c.results.map((r) => r.metrics);
  const verified = m.reduce((a, x) => a + x.draftTokensVerified, 0);
  const exact = c.results.every(
    (r, i) => JSON.stringify(r.tokens) === JSON.stringify(reference[i]?.slice(0, maxTokens)),
  );
  const e2e = m.map(e2eTokensPerSecond);
  const decode = m.map((x) => x.tokensPerSecond);
  return {
    name: sc.name,
    mode: c.mode,
    drafter: c.drafter?.name ?? null,
    modelled: sc.modelled !== null,
    prompts: c.results.length,
    maxTokens,
    knobs: c.knobs,
    e2eTokensPerSecond: median(e2e),
    decodeTokensPerSecond: median(decode),
    e2ePerPrompt: e2e,
    decodePerPrompt: decode,
    ttftMsP50: median(m.map((x) => x.ttftMs)),
    itlP50Ms: median(m.map((x) => x.itlP50Ms)),
    acceptanceRate:
      verified === 0 ? 0 : m.reduce((a, x) => a + x.draftTokensAccepted, 0) / verified,
    tokensPerRoundTrip: mean(m.map((x) => x.meanAcceptedPerRoundTrip)),
    runsCancelled: m.reduce((a, x) => a + x.runsCancelled, 0),
    discardedComputeFraction: mean(m.map((x) => x.discardedComputeFraction)),
    arms: armFractions(m),
    exact,
  };
}

/** Paired: per scenario, the median over prompts of pipeinfer's rate / the baseline's on the same prompt. */
function computeRatios(
  rows: readonly ScenarioRow[],
  drafter: string | null,
  field: "e2ePerPrompt" | "decodePerPrompt",
): Ratios {
  const out: Ratios = {};
  for (const name of new Set(rows.map((r) => r.name))) {
    const get = (mode: DecodeMode): number[] =>
      rows.find(
        (r) => r.name === name && r.mode === mode && (mode === "plain" || r.drafter === drafter),
      )?.[field] ?? [];
    out[name] = {
      pipeinferOverSpeculative: pairedRatio(get("pipeinfer"), get("speculative")),
      pipeinferOverPlain: pairedRatio(get("pipeinfer"), get("plain")),
    };
  }
  return out;
}

function printTables(rows: readonly ScenarioRow[], ratios: Ratios, decodeRatios: Ratios): void {
  const lines = [
    "| scenario | mode | drafter | e2e tok/s | decode tok/s | TTFT ms | ITL p50 ms | acceptance | tok/round trip | cancelled | arms | exact |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.name}${r.modelled ? " (modelled)" : ""} | ${r.mode} | ${r.drafter ?? "-"} | ${r.e2eTokensPerSecond.toFixed(2)} | ` +
        `${r.decodeTokensPerSecond.toFixed(2)} | ${r.ttftMsP50.toFixed(0)} | ${r.itlP50Ms.toFixed(1)} | ` +
        `${(r.acceptanceRate * 100).toFixed(0)} % | ${r.tokensPerRoundTrip.toFixed(2)} | ${r.runsCancelled} | ` +
        `${formatArms(r.arms)} | ${r.exact ? "yes" : "NO"} |`,
    );
  }
  lines.push(
    "",
    "| scenario | PipeInfer / speculative, e2e | PipeInfer / plain, e2e | PipeInfer / speculative, decode | PipeInfer / plain, decode |",
    "|---|---|---|---|---|",
  );
  for (const [name, r] of Object.entries(ratios)) {
    const d = decodeRatios[name];
    lines.push(
      `| ${name} | ${r.pipeinferOverSpeculative.toFixed(2)}x | ${r.pipeinferOverPlain.toFixed(2)}x | ` +
        `${d?.pipeinferOverSpeculative.toFixed(2)}x | ${d?.pipeinferOverPlain.toFixed(2)}x |`,
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
