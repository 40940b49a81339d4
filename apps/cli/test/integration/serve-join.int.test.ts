// Across separate processes: `pipemesh serve` prints a room URL for the embedded default model,
// two `pipemesh join ROOM_URL` edge peers contribute their layers, and `pipemesh generate --room ROOM_URL`
// (the head, holding no layers) returns the same greedy tokens as one local peer; a joined peer leaves
// cleanly on SIGINT.

import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readDefaultPair } from "../../src/head/models.ts";
import {
  ggufFixturePath,
  loadGgufGolden,
} from "../../../../packages/engine/test/fixtures/gguf-fixtures.ts";
import {
  collect,
  EQUAL_SPEED,
  generateTokens,
  goldenArgs,
  runCli,
  startCli,
  waitForLine,
} from "../support/run-cli.ts";

const LAYERS = (
  JSON.parse(readFileSync(join(readDefaultPair().target, "config.json"), "utf8")) as {
    num_hidden_layers: number;
  }
).num_hidden_layers;
const PROMPT = [
  "--prompt",
  "The whale",
  "--max-tokens",
  "24",
  "--temperature",
  "0",
  "--ignore-eos",
];

describe("pipemesh serve + join + generate --room", () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  });

  it("two edge peers and a CLI head in one room give the single-peer tokens", async () => {
    const server = startCli(["serve", "--port", "0"]);
    children.push(server);
    const url = await waitForLine(server, "stdout", /room for \S+: (http\S+)/);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);

    const peers = ["edge-a", "edge-b"].map((name) =>
      startCli(["join", url, "--backend", "cpu", "--name", name, ...EQUAL_SPEED]),
    );
    children.push(...peers);
    await Promise.all(peers.map((p) => waitForLine(p, "stderr", /joined room/)));

    const { tokens, json } = await generateTokens(["--room", url, ...PROMPT]);
    const local = await generateTokens(["--backend", "cpu", ...PROMPT]);
    expect(tokens).toEqual(local.tokens);
    expect(tokens).toHaveLength(24);
    expect(json["drafter"]).toBe("onnxruntime-web");
    const plan = json["plan"] as { layerStart: number; layerEnd: number }[];
    expect(plan).toHaveLength(2);
    expect(plan[0]?.layerStart).toBe(0);
    expect(plan[0]?.layerEnd).toBe(plan[1]?.layerStart);
    expect(plan[1]?.layerEnd).toBe(LAYERS);

    // Ctrl-C: the edge peer leaves the room first and exits 0.
    const peer = peers[0]!;
    const done = collect(peer);
    peer.kill("SIGINT");
    const r = await done;
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("leaving the room");
  }, 240_000);

  it("serve --model FILE.gguf --draft FILE.gguf: join peers load their layers by URL, the head takes the model and draft from the room", async () => {
    const golden = loadGgufGolden("llama-q4km-mix");
    const file = ggufFixturePath("llama-q4km-mix");
    // The room carries a draft (here the model itself): its head drafts with it.
    const server = startCli(["serve", "--port", "0", "--model", file, "--draft", file]);
    children.push(server);
    const url = await waitForLine(server, "stdout", /room for llama-q4km-mix\.gguf: (http\S+)/);
    const peers = ["gguf-a", "gguf-b"].map((name) =>
      startCli(["join", url, "--name", name, ...EQUAL_SPEED]),
    );
    children.push(...peers);
    // The head takes the model from the room and waits for both stages to load (bounded below the
    // test's own timeout, so a failure shows the head's and the peers' last lines).
    const peerLines = peers.map(() => [] as string[]);
    peers.forEach((p, i) =>
      p.stderr?.on("data", (d: Buffer) => peerLines[i]?.push(...String(d).trim().split("\n"))),
    );
    const { tokens, json } = await generateTokens(
      ["--room", url, "--min-stages", "2", ...goldenArgs(golden)],
      { PIPEMESH_PEERS_TIMEOUT_MS: "90000" },
    ).catch((e: unknown) => {
      const tails = peerLines.map((l, i) => `peer ${i}: ${l.slice(-6).join(" / ")}`);
      throw new Error(`${(e as Error).message}\n${tails.join("\n")}`);
    });
    expect(tokens).toEqual(golden.greedy);
    expect(json["drafter"]).toBe("engine");
    expect(json["mode"]).toBe("pipeinfer");
    const plan = json["plan"] as { layerStart: number; layerEnd: number; weightBytes: number }[];
    expect(plan.map((p) => [p.layerStart, p.layerEnd])).toEqual([
      [0, 1],
      [1, 2],
    ]);
    for (const p of plan) expect(p.weightBytes).toBeGreaterThan(0);
    for (const p of peers) p.kill("SIGINT");
  });

  it("--min-stages times out with ERR_ROOM_STAGES; a different --model is ERR_CLI_MODEL", async () => {
    const golden = loadGgufGolden("llama-legacy-mix");
    const server = startCli([
      "serve",
      "--port",
      "0",
      "--model",
      ggufFixturePath("llama-legacy-mix"),
    ]);
    children.push(server);
    const url = await waitForLine(server, "stdout", /room for \S+: (http\S+)/);
    const ids = ["--prompt-ids", golden.prompt.join(","), "--max-tokens", "2", "--json"];
    const waited = await runCli(["generate", "--room", url, "--min-stages", "1", ...ids], {
      PIPEMESH_PEERS_TIMEOUT_MS: "1500",
    });
    expect(waited.code).not.toBe(0);
    expect((waited.json?.["error"] as { code?: string } | undefined)?.code).toBe("ERR_ROOM_STAGES");
    const other = await runCli([
      "generate",
      "--room",
      url,
      "--model",
      ggufFixturePath("llama-q4km-mix"),
      ...ids,
    ]);
    expect((other.json?.["error"] as { code?: string } | undefined)?.code).toBe("ERR_CLI_MODEL");
  });
});
