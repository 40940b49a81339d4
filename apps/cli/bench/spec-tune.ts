// bench:spec --tune: tunes synchronous speculation and PipeInfer separately in each scenario, so that the
// measured run compares each mode at its own best settings. Coordinate descent from the scheduler's
// defaults over a small grid per knob; a candidate's score is its end-to-end tokens/s (prompt in to last
// token out) over a few held-out prompts. Writes the chosen knobs (and every trial) to spec-defaults.json,
// keeping the scenarios it did not tune.

import { cpus } from "node:os";
import {
  closeScheduler,
  generateOnce,
  openScenario,
  schedulerFor,
  WARMUP_TOKENS,
  type BenchEnv,
  type OpenedScenario,
} from "./spec-harness.ts";
import type { Scenario } from "./spec-scenarios.ts";
import {
  formatKnobs,
  readSettings,
  untunedKnobs,
  writeSettings,
  type Knobs,
  type SettingsFile,
  type TuneTrial,
} from "./spec-settings.ts";

type TunedMode = "speculative" | "pipeinfer";

/**
 * The values tried per knob, in the order the knobs are visited. Speculative: the draft tree's depth,
 * width and stopping threshold. PipeInfer: the governor, how many micro-batches fly at once (up to the
 * scheduler's 12 KV partitions), correction forks, their depth (first of a chain and later) and the
 * stopping threshold. Wide speculation and forks pay where stages idle between runs (the simulation gives
 * them 1.95x synchronous speculation in wan) and cost where stages share cores.
 */
export const SEARCH: Record<TunedMode, [keyof Knobs, readonly (number | boolean)[]][]> = {
  speculative: [
    ["draftMax", [2, 3, 4, 6]],
    ["draftBranches", [1, 2, 3]],
    ["pAccept", [0.02, 0.05, 0.1, 0.2, 0.4]],
  ],
  pipeinfer: [
    ["governor", [true, false]],
    ["maxInFlightRuns", [2, 3, 4, 6, 8, 12]],
    ["corrections", [false, true]],
    ["draftMax", [2, 3, 4, 6]],
    ["firstDraftMax", [1, 2, 3, 4]],
    ["pAccept", [0.02, 0.05, 0.1, 0.2, 0.4]],
  ],
};

/** The best challenger must beat the incumbent by this much to replace it (the box is noisy). */
const MARGIN = 0.03;

export interface TuneOptions {
  scenarios: readonly Scenario[];
  drafterKind: "ort" | "engine";
  prompts: readonly (readonly number[])[];
  warmup: readonly number[];
  maxTokens: number;
  passes: number;
  extraArgs: readonly string[];
  env: BenchEnv;
  settingsFile: URL | string;
}

export async function tune(o: TuneOptions): Promise<SettingsFile> {
  const log = o.env.log;
  const file: SettingsFile = readSettings(o.settingsFile) ?? {
    about: "",
    tuned: null,
    scenarios: {},
    trials: {},
  };
  file.about =
    "bench:spec per-mode knobs, chosen by `npm run bench:spec -- --tune` (apps/cli/bench/spec-tune.ts); " +
    "the default bench run reads them. Plain decoding has no knobs.";
  const wallMs: Record<string, number> = { ...(file.tuned?.wallMs ?? {}) };
  let drafterName = o.drafterKind as string;
  for (const sc of o.scenarios) {
    const t0 = performance.now();
    log(`== tune ${sc.name}: ${sc.about}`);
    const os = await openScenario(sc, [o.drafterKind], o.env);
    try {
      drafterName = os.drafters[0]?.name ?? drafterName;
      const speculative = await descend(os, "speculative", o);
      const pipeinfer = await descend(os, "pipeinfer", o);
      file.scenarios[sc.name] = { speculative: speculative.best, pipeinfer: pipeinfer.best };
      file.trials[sc.name] = { speculative: speculative.trials, pipeinfer: pipeinfer.trials };
    } finally {
      await os.destroy();
    }
    wallMs[sc.name] = Math.round(performance.now() - t0);
    log(`   ${sc.name} tuned in ${(wallMs[sc.name]! / 60_000).toFixed(1)} min`);
    file.tuned = {
      date: new Date().toISOString(),
      machine: `${cpus().length} x ${cpus()[0]?.model ?? "unknown"}, Node ${process.version}, ${o.env.backend} stages`,
      drafter: drafterName,
      prompts: o.prompts.length,
      maxTokens: o.maxTokens,
      objective:
        "end-to-end tokens/s (generated tokens / request start to last token), summed over the prompts",
      wallMs,
    };
    writeSettings(file, o.settingsFile); // after every scenario, so an interrupted run keeps what it finished
  }
  return file;
}

async function descend(
  os: OpenedScenario,
  mode: TunedMode,
  o: TuneOptions,
): Promise<{ best: Knobs; trials: TuneTrial[] }> {
  const trials: TuneTrial[] = [];
  let best = untunedKnobs(mode);
  for (let pass = 0; pass < o.passes; pass++) {
    let moved = false;
    for (const [knob, values] of SEARCH[mode]) {
      const challengers = values
        .filter((v) => v !== best[knob])
        .map((v): Knobs => ({ ...best, [knob]: v }))
        .filter((k) => (k.firstDraftMax ?? 0) <= (k.draftMax ?? Infinity));
      const scores = await measureInterleaved(os, mode, [best, ...challengers], o, trials);
      // The fastest challenger wins if it beats the incumbent by the margin.
      let winner = 0;
      scores.forEach((score, i) => {
        if (score > scores[winner]!) winner = i;
      });
      if (scores[winner]! <= scores[0]! * (1 + MARGIN)) winner = 0;
      if (winner !== 0) moved = true;
      best = winner === 0 ? best : challengers[winner - 1]!;
    }
    if (!moved) break;
  }
  o.env.log(`   ${mode} chosen: ${formatKnobs(best)}`);
  return { best, trials };
}

/**
 * End-to-end tokens/s of each knob set over the tuning prompts. The candidates (the incumbent first) run
 * each prompt back to back, starting from a different one per prompt, so a change in the box's load
 * (other work shares its two cores) hits them alike instead of favouring whichever ran in a quiet moment.
 */
async function measureInterleaved(
  os: OpenedScenario,
  mode: TunedMode,
  candidates: readonly Knobs[],
  o: TuneOptions,
  trials: TuneTrial[],
): Promise<number[]> {
  const drafter = os.drafters[0] ?? null;
  const schedulers = candidates.map((k) =>
    schedulerFor(os, mode, drafter, k, o.extraArgs, o.env.log),
  );
  const tokens = candidates.map(() => 0);
  const ms = candidates.map(() => 0);
  try {
    for (const s of schedulers) await generateOnce(s, o.warmup, WARMUP_TOKENS);
    for (let p = 0; p < o.prompts.length; p++) {
      for (let k = 0; k < schedulers.length; k++) {
        const c = (p + k) % schedulers.length;
        const m = (await generateOnce(schedulers[c]!, o.prompts[p]!, o.maxTokens)).metrics;
        tokens[c]! += m.generatedTokens;
        ms[c]! += m.elapsedMs;
      }
    }
  } finally {
    for (const s of schedulers) await closeScheduler(s);
  }
  const scores = candidates.map((_, c) => (ms[c]! > 0 ? (tokens[c]! * 1000) / ms[c]! : 0));
  candidates.forEach((knobs, c) => {
    trials.push({ knobs: { ...knobs }, e2eTokensPerSecond: Number(scores[c]!.toFixed(3)) });
    o.env.log(
      `   ${mode.padEnd(11)} ${scores[c]!.toFixed(2).padStart(6)} tok/s  ${formatKnobs(knobs)}`,
    );
  });
  return scores;
}
