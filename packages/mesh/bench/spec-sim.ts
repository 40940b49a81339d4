// bench:spec (simulated): runs plain, speculative and pipeinfer with the real scheduler on the toy model over
// SimPipeline in virtual time, for modelled scenarios, and prints decode tokens/s and the ratios the issue
// targets. Deterministic. Not a measurement of real hardware: the scenario parameters below are the model.
// Run: node --import @pipemesh/engine/node-register packages/mesh/bench/spec-sim.ts [--json] [--tokens N]
//      [--scenario name] [--prompts N (<= 8)] [--agreement 0.8 (the toy "aligned" draft instead of the measured tiny profile)]
//      [--set key=value ...] (speculation knobs, e.g. --set pSplit=0.5 --set calibrate=false)

import type { DecodeMode, SpeculationOptions } from "../src/scheduler/config.ts";
import type { GenerationMetrics } from "../src/scheduler/metrics.ts";
import { createHarness } from "../test/support/sim-harness.ts";
import type { SimComputeModel } from "../test/support/sim-pipeline.ts";

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
  /** The measured draft the "profile" toy drafter mimics (apps/cli bench:spec's draft for the scenario). */
  profile: "tiny" | "tiny-weak";
  draftStepMs: number;
  draftExtraTokenMs: number;
  /** Cost of each further context with new tokens in one predict call (the modelled drafter: 25 ms each). */
  draftExtraContextMs: number;
}

/**
 * Real compute on this repo's reference box (2 loaded cores, the embedded pair on the CPU backend, peers
 * as processes over WebRTC with emulated latency), as bench:spec's traces show it: about 4 ms per stage
 * per run + 1.5 ms per extra row, ~7 ms of messaging per hop on top of the emulated latency, and a batched
 * ORT draft step of about 2 ms.
 */
const tiny = {
  stages: 4,
  compute: { baseMs: 4, perExtraRowMs: 3.5 },
  stepsPerStage: 2,
  activationBytesPerRow: 800,
  bandwidthMbps: Number.POSITIVE_INFINITY,
  profile: "tiny" as const,
  draftStepMs: 6,
  draftExtraTokenMs: 0.5,
  draftExtraContextMs: 1,
};

export const SCENARIOS: Scenario[] = [
  {
    name: "paper",
    about:
      "8 stages busy 60 ms + 10 ms/extra row (+8 ms real per run), 1 ms hops, draft 25 ms per context (+2 ms real)",
    stages: 8,
    compute: { baseMs: 68, perExtraRowMs: 10.5 },
    stepsPerStage: 1,
    hopMs: 1,
    hopJitterMs: 0.5,
    bandwidthMbps: Number.POSITIVE_INFINITY,
    activationBytesPerRow: 800,
    profile: "tiny",
    draftStepMs: 27,
    draftExtraTokenMs: 0.3,
    draftExtraContextMs: 25,
  },
  {
    name: "lan",
    about: "4 stages of real compute, 1 ms hops (+3 ms messaging)",
    ...tiny,
    hopMs: 4,
    hopJitterMs: 1,
  },
  {
    name: "wan",
    about: "4 stages of real compute, 20 ms hops (+7 ms messaging)",
    ...tiny,
    hopMs: 27,
    hopJitterMs: 4,
  },
  {
    name: "lowbw",
    about: "as lan with 10 Mbit/s links",
    ...tiny,
    hopMs: 4,
    hopJitterMs: 1,
    bandwidthMbps: 10,
  },
  {
    name: "wan-weak",
    about: "wan with the weak draft",
    ...tiny,
    hopMs: 27,
    hopJitterMs: 4,
    profile: "tiny-weak",
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
  [1, 7, 3, 2, 0, 5, 0, 8, 0, 7, 5, 6],
  [2, 2, 3, 6, 0, 6, 7, 9, 7, 7, 4, 9],
  [0, 5, 7, 7, 2, 1, 5, 6, 6, 4, 9, 0],
  [6, 9, 3, 1, 4, 7, 1, 8, 0, 5, 5, 9],
  [1, 1, 4, 1, 4, 2, 1, 3, 5, 6, 2, 3],
];

/**
 * Runs one mode on one scenario over the first `prompts` prompts with one scheduler (reset between
 * prompts, as bench:spec does, so calibration carries over); returns the mean of each metric.
 */
export async function runScenario(
  sc: Scenario,
  mode: DecodeMode,
  opts: {
    tokens: number;
    prompts: number;
    draft: "profile" | "aligned";
    agreement: number;
    speculation: Partial<SpeculationOptions>;
  },
): Promise<GenerationMetrics> {
  const all: GenerationMetrics[] = [];
  const h = createHarness({
    peers: sc.stages,
    model: { layers: sc.stages * 2 },
    ...(mode === "plain" ? {} : { draft: opts.draft }),
    agreement: opts.agreement,
    profile: sc.profile,
    draftStepMs: sc.draftStepMs,
    draftExtraTokenMs: sc.draftExtraTokenMs,
    draftExtraContextMs: sc.draftExtraContextMs,
    mode,
    config: { speculation: opts.speculation },
    sim: {
      seed: 100,
      compute: sc.compute,
      stepsPerStage: sc.stepsPerStage,
      hopMs: sc.hopMs,
      headHopMs: 0,
      hopJitterMs: sc.hopJitterMs,
      bandwidthMbps: sc.bandwidthMbps,
      activationBytesPerRow: sc.activationBytesPerRow,
    },
  });
  for (const prompt of PROMPTS.slice(0, opts.prompts)) {
    await h.clock.run(h.scheduler.reset());
    const { result } = await h.generate({ newTokens: prompt, maxTokens: opts.tokens });
    all.push(result.metrics);
  }
  await h.clock.run(h.scheduler.destroy());
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
  prompts: number;
  draft: "profile" | "aligned";
  agreement: number;
  speculation: Partial<SpeculationOptions>;
} {
  const speculation: Record<string, number | boolean> = {};
  let json = false;
  let tokens = 128;
  let prompts = 3;
  let scenario: string | null = null;
  let draft: "profile" | "aligned" = "profile";
  let agreement = 0.8;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") json = true;
    else if (a === "--tokens") tokens = Number(argv[++i]);
    else if (a === "--scenario") scenario = argv[++i] ?? null;
    else if (a === "--prompts") prompts = Math.min(PROMPTS.length, Number(argv[++i]));
    else if (a === "--agreement") {
      agreement = Number(argv[++i]);
      draft = "aligned";
    } else if (a === "--set") {
      const [k, v] = (argv[++i] ?? "").split("=");
      if (k !== undefined && v !== undefined)
        speculation[k] = v === "true" || v === "false" ? v === "true" : Number(v);
    }
  }
  return { json, tokens, prompts, scenario, draft, agreement, speculation };
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
