// Command-line options of `pipemesh generate`, parsed with node:util parseArgs into one typed object with
// defaults in one place. Validation errors are CliError ERR_CLI_USAGE naming the flag. The one I/O is the
// room URL (room-url.ts): `--room -` reads it from stdin, `--room` with no value from PIPEMESH_ROOM_URL, and
// a URL given on the command line is warned about (ps shows it with its secret).

import { parseArgs } from "node:util";
import { CliError } from "./cli-error.ts";
import { ROOM_URL_ENV, roomUrlFrom, type RoomUrlIo } from "./room-url.ts";

export type GenerateMode = "plain" | "speculative" | "pipeinfer";
export type Backend = "webgpu" | "cpu";
export type DrafterKind = "ort" | "engine";

export interface GenerateOptions {
  model: string | undefined;
  draft: string | undefined;
  drafter: DrafterKind | undefined;
  prompt: string | undefined;
  promptIds: number[] | undefined;
  chat: boolean;
  system: string | undefined;
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number | undefined;
  stop: string[];
  ignoreEos: boolean;
  backend: Backend;
  peers: number;
  /** --room: the room's URL (from the argument, stdin or PIPEMESH_ROOM_URL). */
  room: string | undefined;
  /** --room: wait (bounded) until the room's plan has at least this many loaded stages. */
  minStages: number | undefined;
  /** Context length in tokens (default: the model's, at most DEFAULT_CONTEXT). */
  ctx: number | undefined;
  mode: GenerateMode | undefined;
  draftBranches: number;
  draftMax: number;
  pAccept: number | undefined;
  pSplit: number | undefined;
  pRecovery: number | undefined;
  pDecay: number | undefined;
  /** Most speculative runs in flight at once (pipeinfer); undefined: the scheduler's default. */
  maxInFlight: number | undefined;
  /** Calibrate the draft's confidence online (greedy); undefined: the scheduler's default (on). */
  calibrate: boolean | undefined;
  /** Let the speculation governor switch speculation off where it is slower; undefined: default (on). */
  governor: boolean | undefined;
  /** Launch correction forks at the draft's other candidates (pipeinfer); undefined: default (off). */
  corrections: boolean | undefined;
  /** Most KV partitions (drafted trees kept at once); undefined: the scheduler's default. */
  maxPartitions: number | undefined;
  linkLatencyMs: number;
  linkBandwidthMbps: number;
  kvCells: number | undefined;
  modelledStageMs: number;
  modelledRowMs: number;
  modelledDraftMs: number;
  /** Recover from a lost or failed stage mid-generation (default true; --no-recovery turns it off). */
  recovery: boolean;
  json: boolean;
}

export const GENERATE_USAGE = `usage: pipemesh generate [--model DIR] [--draft DIR] (--prompt TEXT | --prompt-ids 1,2,3)
  --max-tokens N          tokens to generate (default 64)
  --temperature T         0 = greedy (default 0); --top-k K, --top-p P, --seed S, --stop STR (repeatable)
  --chat [--system TEXT]  apply the model's chat template to the prompt
  --ignore-eos            do not stop at the model's EOS token
  --backend webgpu|cpu    compute backend of the peers (default webgpu; cpu is the plain-TS reference)
  --peers N               peers holding the layers (default 1); N > 1 starts N local peer processes
  --room [URL | -]        generate in an existing room (pipemesh serve / join) as its head, on the room's
                          model (a --model given with it must be the same model); the URL: with no value
                          PIPEMESH_ROOM_URL, "-" stdin's first line (an argument shows its secret in ps)
  --min-stages N          --room: wait until the room's plan has at least N loaded stages (bounded; then
                          ERR_ROOM_STAGES)
  --ctx N                 context length in tokens (default: the model's, at most 4096)
  --mode plain|speculative|pipeinfer   default pipeinfer with a draft model, plain without
  --draft DIR, --drafter ort|engine    draft model (default: the embedded pair's draft when --model is absent)
  --draft-branches B, --draft-max K, --p-accept, --p-split, --p-recovery, --p-decay   speculation knobs
  --max-in-flight N       most speculative runs in flight at once (pipeinfer; default 4)
  --governor on|off       pipeinfer: turn speculation off where it measures slower than plain (default on)
  --corrections on|off    pipeinfer: also speculate the draft's second choices where a miss is likely (default off)
  --max-partitions N      most drafted trees whose KV is kept at once (default 12; caps runs in flight)
  --calibrate on|off      gate speculation on the draft's calibrated confidence (default on) or its raw probability
  --link-latency-ms MS, --link-bandwidth-mbps MBPS   shape every hop (benchmarks)
  --no-recovery           a stage lost mid-generation ends it (ERR_PEER_LOST and the tokens so far)
                          instead of moving its layers to the other peers and going on
  --kv-cells N            KV cache cells per peer
  --modelled-stage-ms MS, --modelled-row-ms MS, --modelled-draft-ms MS
                          benchmarks only: each stage is busy MS per run (+ per extra row) before computing,
                          and each new draft prediction costs MS (modelled compute; tokens stay exact)
  --json                  print one JSON object as the last line of stdout`;

function onOff(name: string, v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === "on" || v === "off") return v === "on";
  throw new CliError("ERR_CLI_USAGE", `--${name} must be on or off, got "${v}"`);
}

function num(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new CliError(
      "ERR_CLI_USAGE",
      `--${name} must be a number in [${min}, ${max}], got "${v}"`,
    );
  }
  return n;
}

function int(name: string, v: string | undefined, min: number, max: number): number | undefined {
  const n = num(name, v, min, max);
  if (n !== undefined && !Number.isInteger(n)) {
    throw new CliError("ERR_CLI_USAGE", `--${name} must be an integer, got "${v}"`);
  }
  return n;
}

function oneOf<T extends string>(
  name: string,
  v: string | undefined,
  allowed: readonly T[],
): T | undefined {
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new CliError(
      "ERR_CLI_USAGE",
      `--${name} must be one of ${allowed.join(", ")}, got "${v}"`,
    );
  }
  return v as T;
}

function parseIds(v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  const ids = v.split(",").map((s) => s.trim());
  if (ids.length === 0 || ids.some((s) => !/^\d+$/.test(s))) {
    throw new CliError(
      "ERR_CLI_USAGE",
      `--prompt-ids must be comma-separated token ids, got "${v}"`,
    );
  }
  return ids.map(Number);
}

/** `--room` with no value (last, or followed by another option) means the environment: `--room=`. */
function bareRoom(argv: readonly string[]): string[] {
  return argv.map((a, i) => {
    const next = argv[i + 1];
    return a === "--room" && (next === undefined || next.startsWith("--")) ? "--room=" : a;
  });
}

/** `io` replaces the room URL's stdin, environment and warning (tests). */
export function parseGenerateArgs(argv: readonly string[], io?: RoomUrlIo): GenerateOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: bareRoom(argv),
      allowPositionals: false,
      strict: true,
      options: {
        model: { type: "string" },
        draft: { type: "string" },
        drafter: { type: "string" },
        prompt: { type: "string" },
        "prompt-ids": { type: "string" },
        chat: { type: "boolean" },
        system: { type: "string" },
        "max-tokens": { type: "string" },
        temperature: { type: "string" },
        "top-k": { type: "string" },
        "top-p": { type: "string" },
        seed: { type: "string" },
        stop: { type: "string", multiple: true },
        "ignore-eos": { type: "boolean" },
        backend: { type: "string" },
        peers: { type: "string" },
        room: { type: "string" },
        "min-stages": { type: "string" },
        ctx: { type: "string" },
        mode: { type: "string" },
        "draft-branches": { type: "string" },
        "draft-max": { type: "string" },
        "p-accept": { type: "string" },
        "p-split": { type: "string" },
        "p-recovery": { type: "string" },
        "p-decay": { type: "string" },
        "max-in-flight": { type: "string" },
        calibrate: { type: "string" },
        governor: { type: "string" },
        corrections: { type: "string" },
        "max-partitions": { type: "string" },
        "link-latency-ms": { type: "string" },
        "link-bandwidth-mbps": { type: "string" },
        "kv-cells": { type: "string" },
        "modelled-stage-ms": { type: "string" },
        "modelled-row-ms": { type: "string" },
        "modelled-draft-ms": { type: "string" },
        "no-recovery": { type: "boolean" },
        json: { type: "boolean" },
      },
    });
  } catch (e) {
    throw new CliError("ERR_CLI_USAGE", (e as Error).message);
  }
  const v = parsed.values;
  const promptIds = parseIds(v["prompt-ids"]);
  if ((v.prompt === undefined) === (promptIds === undefined)) {
    throw new CliError("ERR_CLI_USAGE", "give exactly one of --prompt TEXT or --prompt-ids 1,2,3");
  }
  if (v.room !== undefined && v.peers !== undefined) {
    throw new CliError("ERR_CLI_USAGE", "--room uses the room's peers; drop --peers");
  }
  if (v["min-stages"] !== undefined && v.room === undefined) {
    throw new CliError("ERR_CLI_USAGE", "--min-stages waits for a room's stages; it needs --room");
  }
  if (v.ctx !== undefined && v["kv-cells"] !== undefined) {
    throw new CliError("ERR_CLI_USAGE", "give --ctx or --kv-cells, not both");
  }
  if (v.chat === true && v.prompt === undefined) {
    throw new CliError("ERR_CLI_USAGE", "--chat needs --prompt TEXT");
  }
  let room: string | undefined;
  if (v.room !== undefined) {
    const url = roomUrlFrom(v.room, "generate", io);
    if (url === null)
      throw new CliError(
        "ERR_CLI_USAGE",
        v.room === "-"
          ? "--room -: no room URL on stdin"
          : `--room without a URL reads ${ROOM_URL_ENV}, which is not set`,
      );
    room = url;
  }
  return {
    model: v.model,
    draft: v.draft,
    drafter: oneOf<DrafterKind>("drafter", v.drafter, ["ort", "engine"]),
    prompt: v.prompt,
    promptIds,
    chat: v.chat ?? false,
    system: v.system,
    maxTokens: int("max-tokens", v["max-tokens"], 1, 1_000_000) ?? 64,
    temperature: num("temperature", v.temperature, 0, 100) ?? 0,
    topK: int("top-k", v["top-k"], 0, 1_000_000) ?? 0,
    topP: num("top-p", v["top-p"], 0, 1) ?? 1,
    seed: int("seed", v.seed, 0, 2 ** 32 - 1),
    stop: v.stop ?? [],
    ignoreEos: v["ignore-eos"] ?? false,
    backend: oneOf<Backend>("backend", v.backend, ["webgpu", "cpu"]) ?? "webgpu",
    peers: int("peers", v.peers, 1, 64) ?? 1,
    room,
    minStages: int("min-stages", v["min-stages"], 1, 1024),
    ctx: int("ctx", v.ctx, 16, 1 << 22),
    mode: oneOf<GenerateMode>("mode", v.mode, ["plain", "speculative", "pipeinfer"]),
    draftBranches: int("draft-branches", v["draft-branches"], 1, 8) ?? 3,
    draftMax: int("draft-max", v["draft-max"], 1, 64) ?? 4,
    pAccept: num("p-accept", v["p-accept"], 0, 1),
    pSplit: num("p-split", v["p-split"], 0, 1),
    pRecovery: num("p-recovery", v["p-recovery"], 0, 1),
    pDecay: num("p-decay", v["p-decay"], 0, 1),
    maxInFlight: int("max-in-flight", v["max-in-flight"], 1, 64),
    calibrate: onOff("calibrate", v.calibrate),
    governor: onOff("governor", v.governor),
    corrections: onOff("corrections", v.corrections),
    maxPartitions: int("max-partitions", v["max-partitions"], 1, 64),
    linkLatencyMs: num("link-latency-ms", v["link-latency-ms"], 0, 10_000) ?? 0,
    linkBandwidthMbps: num("link-bandwidth-mbps", v["link-bandwidth-mbps"], 0, 1_000_000) ?? 0,
    kvCells: int("kv-cells", v["kv-cells"], 16, 1 << 22),
    modelledStageMs: num("modelled-stage-ms", v["modelled-stage-ms"], 0, 60_000) ?? 0,
    modelledRowMs: num("modelled-row-ms", v["modelled-row-ms"], 0, 60_000) ?? 0,
    modelledDraftMs: num("modelled-draft-ms", v["modelled-draft-ms"], 0, 60_000) ?? 0,
    recovery: v["no-recovery"] !== true,
    json: v.json ?? false,
  };
}
