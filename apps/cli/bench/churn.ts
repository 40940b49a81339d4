// bench:churn — how generations survive lost stages. On the embedded pair with 4 stage processes over real
// WebRTC on loopback (20 ms per hop), this process as the head: (1) kill trials, each SIGKILLing a seeded
// random stage process at a seeded random token, and freeze trials, each SIGSTOPping one, with the time to
// notice the fault, to get a replacement pipeline, and to the first token after it, and whether the tokens
// equal the uninterrupted run's; (2) tokens per second of a long generation with one stage killed every N
// tokens, side by side with the same generation without faults. Prints a table, then one JSON line.
// Usage: npm run bench:churn -- [--kills 20] [--freezes 20] [--every 40] [--long-tokens 160]
//        [--repeats 3] [--seed 1] [--mode pipeinfer|plain|speculative] [--json]

import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import type { Head } from "@pipemesh/head";
import type { GenerationResult } from "@pipemesh/mesh";
import { parseGenerateArgs } from "../src/args.ts";
import { openCliHead } from "../src/head/cli-head.ts";
import { promptTokens } from "../src/head/prompt.ts";
import { joinChildren, seededRandom as rng } from "../test/support/fault-injection.ts";

const PROMPT = "Once upon a time";
const TRIAL_TOKENS = 48;

interface Trial {
  kind: "kill" | "freeze";
  seed: number;
  victim: number;
  atToken: number;
  /** Fault to the head naming the failure. */
  detectMs: number | null;
  /** Failure to the replacement pipeline taking the replay (re-plan, loads, connections). */
  replaceMs: number | null;
  /** Failure to the first token after it (replay included). */
  recoveredMs: number | null;
  /** Fault to the first token after it: detectMs + recoveredMs. */
  totalMs: number | null;
  exact: boolean;
  error?: string;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  if (s.length === 0) return Number.NaN;
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

function percentile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : (s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? 0);
}

interface Fault {
  signal: "SIGKILL" | "SIGSTOP";
  /** Token counts at which to fault (each picks a stage with `pick`). */
  atTokens: number[];
  pick: (stages: number) => number;
}

/** One generation on a fresh 4-process mesh; faults are injected at token counts. */
async function generation(
  mode: string | undefined,
  maxTokens: number,
  fault: Fault | null,
): Promise<{
  result: GenerationResult | null;
  error: string | null;
  faultAt: number[];
  failedAt: number[];
  elapsedMs: number;
}> {
  const opts = parseGenerateArgs([
    "--prompt",
    PROMPT,
    "--max-tokens",
    String(maxTokens),
    "--ignore-eos",
    "--peers",
    "4",
    "--backend",
    "cpu",
    "--link-latency-ms",
    "20",
    ...(mode === undefined ? [] : ["--mode", mode]),
  ]);
  const abort = new AbortController();
  const failedAt: number[] = [];
  const head: Head = await openCliHead(opts, {
    signal: abort.signal,
    log: (m) => {
      if (/ failed \(ERR_[A-Z_]+: .*\); recovering$/.test(m)) failedAt.push(performance.now());
      if (process.env["PIPEMESH_DEBUG"] === "1") process.stderr.write(`${m}\n`);
    },
  });
  const faultAt: number[] = [];
  const startMs = performance.now();
  try {
    const gen = head.generate({
      newTokens: promptTokens(opts, head.tokenizer),
      maxTokens,
      sampling: { temperature: 0 },
      stopTokenIds: [],
    });
    let count = 0;
    const pending = [...(fault?.atTokens ?? [])];
    for await (const ev of gen) {
      count += ev.tokens.length;
      while (fault !== null && pending.length > 0 && count >= (pending[0] ?? Infinity)) {
        pending.shift();
        const stages = joinChildren(process.pid);
        const victim = stages[fault.pick(stages.length)];
        if (victim === undefined) continue;
        faultAt.push(performance.now());
        process.kill(victim, fault.signal);
      }
    }
    const result = await gen.result;
    return { result, error: null, faultAt, failedAt, elapsedMs: performance.now() - startMs };
  } catch (e) {
    return {
      result: null,
      error: e instanceof Error ? e.message : String(e),
      faultAt,
      failedAt,
      elapsedMs: performance.now() - startMs,
    };
  } finally {
    await head.destroy();
  }
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      kills: { type: "string" },
      freezes: { type: "string" },
      every: { type: "string" },
      "long-tokens": { type: "string" },
      repeats: { type: "string" },
      seed: { type: "string" },
      mode: { type: "string" },
      json: { type: "boolean" },
    },
  });
  const kills = Number(v.kills ?? 20);
  const freezes = Number(v.freezes ?? 20);
  const every = Number(v.every ?? 40);
  const longTokens = Number(v["long-tokens"] ?? 160);
  const repeats = Number(v.repeats ?? 3);
  const seed = Number(v.seed ?? 1);
  const mode = v.mode;
  const say = (m: string): void => void process.stderr.write(`${m}\n`);

  const clean = await generation(mode, TRIAL_TOKENS, null);
  if (clean.result === null) throw new Error(`the uninterrupted run failed: ${clean.error}`);
  const reference = clean.result.tokens;
  say(
    `reference: ${reference.length} tokens, ${clean.result.metrics.tokensPerSecond.toFixed(1)} tok/s`,
  );

  const trials: Trial[] = [];
  const plan = [
    ...Array.from({ length: kills }, () => "kill" as const),
    ...Array.from({ length: freezes }, () => "freeze" as const),
  ];
  for (const [i, kind] of plan.entries()) {
    const draw = rng(seed * 1000 + i);
    const victim = Math.floor(draw() * 4);
    const atToken = 2 + Math.floor(draw() * (TRIAL_TOKENS - 12));
    const out = await generation(mode, TRIAL_TOKENS, {
      signal: kind === "kill" ? "SIGKILL" : "SIGSTOP",
      atTokens: [atToken],
      pick: (n) => Math.min(victim, n - 1),
    });
    const rec = out.result?.metrics.recoveries[0];
    const detectMs =
      out.faultAt[0] !== undefined && out.failedAt[0] !== undefined
        ? out.failedAt[0] - out.faultAt[0]
        : null;
    const recoveredMs = rec?.recoveredMs ?? null;
    const trial: Trial = {
      kind,
      seed: seed * 1000 + i,
      victim,
      atToken,
      detectMs,
      replaceMs: rec?.replaceMs ?? null,
      recoveredMs,
      totalMs: detectMs !== null && recoveredMs !== null ? detectMs + recoveredMs : null,
      exact: JSON.stringify(out.result?.tokens) === JSON.stringify(reference),
      ...(out.error === null ? {} : { error: out.error }),
    };
    trials.push(trial);
    say(
      `${kind} #${i + 1}: stage ${victim + 1} at token ${atToken}: detect ${fmt(trial.detectMs)} ms, ` +
        `replace ${fmt(trial.replaceMs)} ms, first token after ${fmt(trial.totalMs)} ms, ` +
        `${trial.exact ? "exact" : `NOT EXACT${trial.error === undefined ? "" : ` (${trial.error})`}`}`,
    );
  }

  const clearRates: number[] = [];
  const churnRates: number[] = [];
  let churnExact = true;
  let churnRecoveries = 0;
  let longReference: number[] | null = null;
  for (let r = 0; r < repeats; r++) {
    const calm = await generation(mode, longTokens, null);
    const atTokens: number[] = [];
    for (let t = every; t < longTokens; t += every) atTokens.push(t);
    const stormy = await generation(mode, longTokens, {
      signal: "SIGKILL",
      atTokens,
      pick: (n) => Math.floor(rng(seed + r)() * n),
    });
    if (calm.result === null) throw new Error(`the uninterrupted long run failed: ${calm.error}`);
    longReference ??= calm.result.tokens;
    clearRates.push((calm.result.tokens.length * 1000) / calm.elapsedMs);
    if (stormy.result === null) {
      churnExact = false;
      say(`churn run ${r + 1} failed: ${stormy.error}`);
      continue;
    }
    churnRecoveries += stormy.result.metrics.recoveries.length;
    churnExact &&= JSON.stringify(stormy.result.tokens) === JSON.stringify(longReference);
    churnRates.push((stormy.result.tokens.length * 1000) / stormy.elapsedMs);
    say(
      `long run ${r + 1}: ${clearRates.at(-1)?.toFixed(2)} tok/s without faults, ` +
        `${churnRates.at(-1)?.toFixed(2)} tok/s with a kill every ${every} tokens ` +
        `(${stormy.result.metrics.recoveries.length} recoveries)`,
    );
  }

  const summary = (kind: Trial["kind"]): Record<string, number> => {
    const ts = trials.filter((t) => t.kind === kind);
    const num = (xs: (number | null)[]): number[] => xs.filter((x): x is number => x !== null);
    return {
      trials: ts.length,
      exact: ts.filter((t) => t.exact).length,
      detectP50Ms: median(num(ts.map((t) => t.detectMs))),
      replaceP50Ms: median(num(ts.map((t) => t.replaceMs))),
      replaceP95Ms: percentile(num(ts.map((t) => t.replaceMs)), 0.95),
      totalP50Ms: median(num(ts.map((t) => t.totalMs))),
      totalP95Ms: percentile(num(ts.map((t) => t.totalMs)), 0.95),
      totalMaxMs: Math.max(...num(ts.map((t) => t.totalMs))),
    };
  };
  const out = {
    kill: summary("kill"),
    freeze: summary("freeze"),
    throughput: {
      tokens: longTokens,
      killEvery: every,
      tokensPerSecondNoFaults: median(clearRates),
      tokensPerSecondWithKills: median(churnRates),
      recoveries: churnRecoveries,
      exact: churnExact,
    },
    trials,
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model ?? "?",
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      date: new Date().toISOString(),
    },
  };
  console.log(
    "\n| faults | trials | exact | detect p50 | replace p50 / p95 | first token after p50 / p95 / max |",
  );
  console.log("|---|---|---|---|---|---|");
  for (const k of ["kill", "freeze"] as const) {
    const s = out[k];
    console.log(
      `| ${k === "kill" ? "SIGKILL" : "SIGSTOP"} | ${s["trials"]} | ${s["exact"]} | ${fmt(s["detectP50Ms"] ?? null)} ms | ` +
        `${fmt(s["replaceP50Ms"] ?? null)} / ${fmt(s["replaceP95Ms"] ?? null)} ms | ` +
        `${fmt(s["totalP50Ms"] ?? null)} / ${fmt(s["totalP95Ms"] ?? null)} / ${fmt(s["totalMaxMs"] ?? null)} ms |`,
    );
  }
  const t = out.throughput;
  console.log(
    `\n${t.tokens} tokens: ${t.tokensPerSecondNoFaults.toFixed(2)} tok/s without faults, ` +
      `${t.tokensPerSecondWithKills.toFixed(2)} tok/s with a stage killed every ${t.killEvery} tokens ` +
      `(${t.recoveries} recoveries, ${t.exact ? "exact" : "NOT EXACT"})`,
  );
  if (v.json === true) console.log(JSON.stringify(out));
  const allExact = trials.every((x) => x.exact) && t.exact;
  process.exitCode = allExact ? 0 : 1;
}

function fmt(x: number | null): string {
  return x === null || Number.isNaN(x) ? "-" : x.toFixed(0);
}

await main();
