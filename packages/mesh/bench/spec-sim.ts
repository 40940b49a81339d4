// bench:spec (simulated): runs plain, speculative and pipeinfer with the real scheduler on the toy model over
// SimPipeline in virtual time, for modelled scenarios, and prints decode tokens/s and the ratios the issue
// targets. Deterministic. Not a measurement of real hardware: the scenario parameters below are the model.
// Run: node --import @pipemesh/engine/node-register packages/mesh/bench/spec-sim.ts [--json] [--tokens N]
//      [--scenario name] [--agreement 0.8] [--set key=value ...] (speculation knobs, e.g. --set pSplit=0.5)

import type { DecodeMode, SpeculationOptions } from "../src/scheduler/config.ts";
import type { GenerationMetrics } from "../src/scheduler/metrics.ts";
import { createHarness } from "../test/support/sim-harness.ts";
import type { SimComputeModel, SimPipelineOptions } from "../test/support/sim-pipeline.ts";

export interface Scenario {
  name: string;
  about: string;
  stages: number;
  compute: SimComputeModel | SimComputeModel[];
  /** Cancel checkpoints per stage run ("layers"). */
  stepsPerStage: number;
  hopMs: number;
  hopJitterMs: number;
  bandwidthMbps: number;
  activationBytesPerRow: number;
  draftStepMs: number;
  draftExtraTokenMs: number;
}

const tiny = {
  stages: 4,
  stepsPerStage: 8,
  activationBytesPerRow: 2048,
  draftStepMs: 2,
  draftExtraTokenMs: 0.2,
};

export const SCENARIOS: Scenario[] = [
  {
    name: "paper",
    about:
      "8 stages busy 60 ms + 10 ms/extra row, 1 ms hops at 1 Gbit/s, 32 KiB/row, draft 25 ms/token",
    stages: 8,
    compute: { baseMs: 60, perExtraRowMs: 10 },
    stepsPerStage: 10,
    hopMs: 1,
    hopJitterMs: 0,
    bandwidthMbps: 1000,
    activationBytesPerRow: 32 * 1024,
    draftStepMs: 25,
    draftExtraTokenMs: 2,
  },
  {
    name: "lan",
    about: "4 stages busy 8 ms + 1 ms/extra row, 1 ms hops, 1 Gbit/s, draft 2 ms/token",
    ...tiny,
    compute: { baseMs: 8, perExtraRowMs: 1 },
    hopMs: 1,
    hopJitterMs: 0.2,
    bandwidthMbps: 1000,
  },
  {
    name: "wan",
    about: "as lan with 20 ms hops (+-2 ms jitter), 100 Mbit/s",
    ...tiny,
    compute: { baseMs: 8, perExtraRowMs: 1 },
    hopMs: 20,
    hopJitterMs: 2,
    bandwidthMbps: 100,
  },
  {
    name: "lowbw",
    about: "as lan with 10 Mbit/s links (5 ms latency)",
    ...tiny,
    compute: { baseMs: 8, perExtraRowMs: 1 },
    hopMs: 5,
    hopJitterMs: 0.5,
    bandwidthMbps: 10,
  },
  {
    name: "wan-weak",
    about: "wan with one weak peer (stage 2 busy 3x longer)",
    ...tiny,
    compute: [0, 1, 2, 3].map((i) =>
      i === 2 ? { baseMs: 24, perExtraRowMs: 3 } : { baseMs: 8, perExtraRowMs: 1 },
    ),
    hopMs: 20,
    hopJitterMs: 2,
    bandwidthMbps: 100,
  },
];

export interface BenchRow {
  scenario: string;
  mode: DecodeMode;
  metrics: GenerationMetrics;
}

const PROMPTS = [
  [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8],
  [2, 7, 1, 8, 2, 8, 1, 8, 2, 8, 4, 5],
  [1, 4, 1, 4, 2, 1, 3, 5, 6, 2, 3, 7],
];

/** Runs one mode on one scenario over every prompt; returns the mean of each metric. */
export async function runScenario(
  sc: Scenario,
  mode: DecodeMode,
  opts: { tokens: number; agreement: number; speculation: Partial<SpeculationOptions> },
): Promise<GenerationMetrics> {
  const all: GenerationMetrics[] = [];
  for (const [i, prompt] of PROMPTS.entries()) {
    const sim: Omit<SimPipelineOptions, "clock" | "stages"> = {
      seed: 100 + i,
      compute: sc.compute,
      stepsPerStage: sc.stepsPerStage,
      hopMs: sc.hopMs,
      headHopMs: 0,
      hopJitterMs: sc.hopJitterMs,
      bandwidthMbps: sc.bandwidthMbps,
      activationBytesPerRow: sc.activationBytesPerRow,
    };
    const h = createHarness({
      peers: sc.stages,
      model: { layers: sc.stages * 2 },
      ...(mode === "plain" ? {} : { draft: "aligned" as const }),
      agreement: opts.agreement,
      draftStepMs: sc.draftStepMs,
      draftExtraTokenMs: sc.draftExtraTokenMs,
      mode,
      config: { speculation: opts.speculation },
      sim,
    });
    const { result } = await h.generate({ newTokens: prompt, maxTokens: opts.tokens });
    all.push(result.metrics);
  }
  return mean(all);
}

function mean(list: GenerationMetrics[]): GenerationMetrics {
  const first = list[0];
  if (first === undefined) throw new Error("no runs");
  const out = { ...first } as Record<string, unknown>;
  for (const k of Object.keys(first)) {
    const v = first[k as keyof GenerationMetrics];
    if (typeof v === "number") {
      out[k] =
        list.reduce((a, m) => a + (m[k as keyof GenerationMetrics] as number), 0) / list.length;
    }
  }
  return out as unknown as GenerationMetrics;
}

function parseArgs(argv: string[]): {
  json: boolean;
  tokens: number;
  scenario: string | null;
  agreement: number;
  speculation: Partial<SpeculationOptions>;
} {
  const speculation: Record<string, number> = {};
  let json = false;
  let tokens = 128;
  let scenario: string | null = null;
  let agreement = 0.8;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") json = true;
    else if (a === "--tokens") tokens = Number(argv[++i]);
    else if (a === "--scenario") scenario = argv[++i] ?? null;
    else if (a === "--agreement") agreement = Number(argv[++i]);
    else if (a === "--set") {
      const [k, v] = (argv[++i] ?? "").split("=");
      if (k !== undefined && v !== undefined) speculation[k] = Number(v);
    }
  }
  return { json, tokens, scenario, agreement, speculation };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const rows: BenchRow[] = [];
  const scenarios = SCENARIOS.filter((s) => args.scenario === null || s.name === args.scenario);
  const f = (x: number, d = 2): string => x.toFixed(d);
  for (const sc of scenarios) {
    const byMode = new Map<DecodeMode, GenerationMetrics>();
    for (const mode of ["plain", "speculative", "pipeinfer"] as const) {
      const m = await runScenario(sc, mode, args);
      byMode.set(mode, m);
      rows.push({ scenario: sc.name, mode, metrics: m });
    }
    if (args.json) continue;
    const p = byMode.get("plain")!;
    const s = byMode.get("speculative")!;
    const q = byMode.get("pipeinfer")!;
    console.log(`\n${sc.name}: ${sc.about}`);
    console.log(
      "  mode         tok/s   ttft ms  itl p50  itl p95  accept  tok/rt  runs  cancelled  discarded",
    );
    for (const [mode, m] of byMode) {
      console.log(
        `  ${mode.padEnd(11)} ${f(m.tokensPerSecond).padStart(7)} ${f(m.ttftMs, 0).padStart(8)} ${f(m.itlP50Ms, 1).padStart(8)} ${f(m.itlP95Ms, 1).padStart(8)} ${f(m.acceptanceRate).padStart(7)} ${f(m.meanAcceptedPerRoundTrip).padStart(7)} ${f(m.runsLaunched, 0).padStart(5)} ${f(m.runsCancelled, 0).padStart(10)} ${f(m.discardedComputeFraction).padStart(10)}`,
      );
    }
    console.log(
      `  pipeinfer/speculative ${f(q.tokensPerSecond / s.tokensPerSecond)}x   pipeinfer/plain ${f(q.tokensPerSecond / p.tokensPerSecond)}x   speculative/plain ${f(s.tokensPerSecond / p.tokensPerSecond)}x`,
    );
  }
  if (args.json) console.log(JSON.stringify(rows, null, 2));
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
