// A generation survives its peers: `generate --peers 4` with one stage process killed (SIGKILL) at a
// seeded random moment, or stopped (SIGSTOP, then resumed while the generation goes on), still exits 0
// with exactly the tokens of an uninterrupted run (one local peer, no mesh), and says how long the
// recovery took; with --no-recovery the same kill ends the run with ERR_PEER_LOST and the tokens so far.

import { beforeAll, describe, expect, it } from "vitest";
import { joinChildren, seededRandom as rng } from "../support/fault-injection.ts";
import { collect, generateTokens, startCli, type CliResult } from "../support/run-cli.ts";

// The embedded pair (8 layers, 2 per peer), 20 ms per hop so a 96-token reply lasts seconds (the faults
// land 0.2 to 2.2 s into it).
const TOKENS = 96;
const ARGS = ["--prompt", "Once upon a time", "--max-tokens", String(TOKENS), "--ignore-eos"];
const PEERS = ["--peers", "4", "--backend", "cpu", "--link-latency-ms", "20"];

interface Fault {
  signal: "SIGKILL" | "SIGSTOP";
  /** Which of the 4 join processes. */
  victim: number;
  /** After the pipeline is up. */
  delayMs: number;
}

/** Starts `generate` with a fault and returns its result; the fault lands `delayMs` after the pipeline is up. */
async function faulted(
  extra: readonly string[],
  fault: Fault,
): Promise<{ r: CliResult; faultAt: number }> {
  const child = startCli(["generate", ...ARGS, ...PEERS, ...extra, "--json"]);
  const done = collect(child);
  let stderr = "";
  child.stderr?.on("data", (d: string) => (stderr += d));
  await expect
    .poll(() => stderr.includes("pipemesh: pipeline"), { timeout: 120_000, interval: 100 })
    .toBe(true);
  await new Promise((r) => setTimeout(r, fault.delayMs));
  const kids = joinChildren(child.pid ?? 0);
  expect(kids).toHaveLength(4);
  const victimPid = kids[fault.victim] ?? 0;
  const faultAt = Date.now();
  process.kill(victimPid, fault.signal);
  if (fault.signal === "SIGSTOP") {
    // Resume the stopped process once the head has planned it out, while the generation goes on: it
    // must not disturb anything (its room membership and links are gone).
    await expect
      .poll(() => stderr.includes("pipemesh: recovered") || child.exitCode !== null, {
        timeout: 60_000,
        interval: 50,
      })
      .toBe(true);
    process.kill(victimPid, "SIGCONT");
  }
  return { r: await done, faultAt };
}

describe("generate --peers 4 survives a lost stage", () => {
  let reference: number[] = [];
  beforeAll(async () => {
    // The uninterrupted run: one local peer, no mesh at all.
    reference = (await generateTokens([...ARGS, "--peers", "1", "--backend", "cpu"])).tokens;
    expect(reference).toHaveLength(TOKENS);
  }, 120_000);

  const trials: { seed: number; mode: string[] }[] = [
    { seed: 1, mode: ["--mode", "plain"] },
    { seed: 2, mode: [] }, // pipeinfer with the embedded draft
    { seed: 3, mode: ["--mode", "speculative"] },
  ];
  for (const { seed, mode } of trials) {
    it(`SIGKILL of a seeded random stage at a seeded random moment (seed ${seed}): same tokens, exit 0`, async () => {
      const draw = rng(seed);
      const fault: Fault = {
        signal: "SIGKILL",
        victim: Math.floor(draw() * 4),
        delayMs: Math.round(200 + draw() * 2000),
      };
      const { r } = await faulted(mode, fault);
      expect(r.code, r.stderr).toBe(0);
      const json = r.json as {
        tokens: number[];
        plan: { layerStart: number; layerEnd: number }[];
        metrics: { recoveries: { code: string; replaceMs: number; recoveredMs: number | null }[] };
      };
      expect(json.tokens).toEqual(reference);
      // Killed before the reply ended: one recovery, timed, and the plan now has 3 stages covering 0-8.
      const rec = json.metrics.recoveries;
      expect(rec, r.stderr).toHaveLength(1);
      expect(rec[0]?.code).toBe("ERR_PEER_LOST");
      expect(r.stderr).toMatch(/pipemesh: recovered in \d+ ms/);
      expect(json.plan).toHaveLength(3);
      expect(json.plan.at(-1)?.layerEnd).toBe(8);
    }, 240_000);
  }

  it("SIGSTOP of a stage: detected, recovered, the resumed process changes nothing", async () => {
    const { r } = await faulted([], { signal: "SIGSTOP", victim: 1, delayMs: 800 });
    expect(r.code, r.stderr).toBe(0);
    const json = r.json as { tokens: number[]; metrics: { recoveries: { code: string }[] } };
    expect(json.tokens).toEqual(reference);
    expect(json.metrics.recoveries).toHaveLength(1);
    expect(json.metrics.recoveries[0]?.code).toBe("ERR_PEER_LOST");
    expect(r.stderr).toMatch(/silent for \d+ ms|returned nothing for run/);
  }, 240_000);

  it("--no-recovery: a killed stage ends the run with ERR_PEER_LOST within 5 s, tokens so far kept", async () => {
    // Streamed text (no --json): the kill lands once tokens are flowing.
    const child = startCli(["generate", ...ARGS, ...PEERS, "--no-recovery"]);
    const done = collect(child);
    let stdout = "";
    child.stdout?.on("data", (d: string) => (stdout += d));
    await expect.poll(() => stdout.length, { timeout: 120_000, interval: 20 }).toBeGreaterThan(8);
    const kids = joinChildren(child.pid ?? 0);
    expect(kids).toHaveLength(4);
    const faultAt = Date.now();
    process.kill(kids[2] ?? 0, "SIGKILL");
    const r = await done;
    expect(Date.now() - faultAt).toBeLessThan(5000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("ERR_PEER_LOST");
    const m = /^pipemesh: generation failed after (\d+) tokens: ([\d,]*)$/m.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const tokens = (m?.[2] ?? "")
      .split(",")
      .filter((x) => x !== "")
      .map(Number);
    expect(tokens.length).toBe(Number(m?.[1]));
    expect(tokens.length).toBeGreaterThan(0);
    expect(tokens.length).toBeLessThan(TOKENS);
    expect(tokens).toEqual(reference.slice(0, tokens.length));
  }, 240_000);
});
