// A room for a Hub model: `pipemesh serve --model hf:OWNER/REPO/FILE.gguf` with HF_ENDPOINT pointing at a
// local Hub stand-in, two `pipemesh join` peers with caches of their own and `generate --room
// --min-stages 2` give the model's float64 greedy tokens; a second round with a fresh server and the same
// peer caches fetches less than 5 % of the first round's bytes from the Hub. A gated repository's files
// reach the peers through the server, and the peers never see the token.

import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  ggufFixturePath,
  loadGgufGolden,
} from "../../../../packages/engine/test/fixtures/gguf-fixtures.ts";
import {
  startHubServer,
  type HubServer,
} from "../../../../packages/engine/test/support/hub-server.ts";
import {
  EQUAL_SPEED,
  generateTokens,
  goldenArgs,
  startCli,
  waitForLine,
} from "../support/run-cli.ts";

const FIXTURE = "llama-q4km-mix";
const golden = loadGgufGolden(FIXTURE);
const SPEC = `hf:pipemesh/tiny-gguf/${FIXTURE}.gguf`;

describe("pipemesh serve --model hf:...", () => {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  let hub: HubServer | undefined;
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    await hub?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const cacheDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), "pipemesh-cache-"));
    dirs.push(d);
    return d;
  };

  /** One round: a fresh server, two peers and a head with the given caches; the hub bytes it cost. */
  async function round(
    env: NodeJS.ProcessEnv,
    caches: { peers: string[]; head: string },
    order: number[],
  ): Promise<{ tokens: number[]; bytes: number }> {
    const before = hub!.bytesServed();
    const server = startCli(["serve", "--port", "0", "--model", SPEC], env);
    children.push(server);
    const url = await waitForLine(server, "stdout", /room for \S+: (http\S+)/);
    // The peers start together, in the given order (the plan follows join order, unless a peer's cache
    // holds layers of the model: then it gets those back).
    const peers = order.map((i) =>
      startCli(["join", "--name", `hub-${i}`, ...EQUAL_SPEED], {
        ...env,
        HF_TOKEN: "",
        PIPEMESH_ROOM_URL: url,
        PIPEMESH_CACHE_DIR: caches.peers[i],
      }),
    );
    children.push(...peers);
    const { tokens } = await generateTokens(
      ["--room", url, "--min-stages", "2", ...goldenArgs(golden)],
      { ...env, HF_TOKEN: "", PIPEMESH_CACHE_DIR: caches.head },
    );
    for (const p of [...peers, server]) p.kill("SIGTERM");
    await Promise.all(
      [...peers, server].map((p) =>
        p.exitCode === null ? new Promise((r) => p.once("exit", r)) : Promise.resolve(),
      ),
    );
    return { tokens, bytes: hub!.bytesServed() - before };
  }

  it("two joined peers give the golden tokens; a second round with their caches (joining in the other order) costs < 5 % of the bytes", async () => {
    hub = await startHubServer({
      repos: { "pipemesh/tiny-gguf": { files: { [`${FIXTURE}.gguf`]: ggufFixturePath(FIXTURE) } } },
    });
    const env = { HF_ENDPOINT: hub.url };
    const caches = { peers: [cacheDir(), cacheDir()], head: cacheDir() };
    const first = await round(env, caches, [0, 1]);
    expect(first.tokens).toEqual(golden.greedy);
    expect(first.bytes).toBeGreaterThan(0.5 * golden.size); // the layers came from the Hub
    // The peers join in the other order: each still gets the layers its cache holds.
    const second = await round(env, caches, [1, 0]);
    expect(second.tokens).toEqual(golden.greedy);
    expect(second.bytes).toBeLessThan(0.05 * first.bytes);
  });

  it("a gated repository: peers load through the server and never send the token", async () => {
    const gated = await startHubServer({
      repos: {
        "pipemesh/gated-gguf": {
          files: { [`${FIXTURE}.gguf`]: ggufFixturePath(FIXTURE) },
          token: "hf_secret_token",
        },
      },
    });
    try {
      const env = { HF_ENDPOINT: gated.url };
      const server = startCli(
        ["serve", "--port", "0", "--model", `hf:pipemesh/gated-gguf/${FIXTURE}.gguf`],
        { ...env, HF_TOKEN: "hf_secret_token" },
      );
      children.push(server);
      const url = await waitForLine(server, "stdout", /room for \S+: (http\S+)/);
      const peers = [cacheDir(), cacheDir()].map((dir, i) =>
        startCli(["join", "--name", `gated-${i}`, ...EQUAL_SPEED], {
          ...env,
          HF_TOKEN: "",
          PIPEMESH_ROOM_URL: url,
          PIPEMESH_CACHE_DIR: dir,
        }),
      );
      children.push(...peers);
      const { tokens } = await generateTokens(
        ["--room", url, "--min-stages", "2", ...goldenArgs(golden)],
        { ...env, HF_TOKEN: "", PIPEMESH_CACHE_DIR: cacheDir() },
      );
      expect(tokens).toEqual(golden.greedy);
      // The peers hold no token, so the layers they loaded came through the server; every request the
      // Hub answered carried the server's token (tokenless ones were refused).
      const answered = gated.requests.filter((x) => x.server === "hub" && x.status < 400);
      expect(answered.length).toBeGreaterThan(0);
      for (const r of answered) expect(r.authorization).toBe("Bearer hf_secret_token");
      expect(gated.bytesServed()).toBeGreaterThan(0.5 * golden.size);
      for (const p of [...peers, server]) p.kill("SIGTERM");
    } finally {
      await gated.close();
    }
  });

  it("generate --model hf:... reads the Hub file by Range on one local peer", async () => {
    const h = await startHubServer({
      repos: { "pipemesh/tiny-gguf": { files: { [`${FIXTURE}.gguf`]: ggufFixturePath(FIXTURE) } } },
    });
    try {
      const { tokens } = await generateTokens(["--model", SPEC, ...goldenArgs(golden)], {
        HF_ENDPOINT: h.url,
        PIPEMESH_CACHE_DIR: cacheDir(),
      });
      expect(tokens).toEqual(golden.greedy);
    } finally {
      await h.close();
    }
  });

  it("serve --model URL (a .gguf file): a joined peer fetches from that URL and gives the golden tokens", async () => {
    const h = await startHubServer({
      repos: { "pipemesh/tiny-gguf": { files: { [`${FIXTURE}.gguf`]: ggufFixturePath(FIXTURE) } } },
    });
    try {
      const url = `${h.url}/pipemesh/tiny-gguf/resolve/main/${FIXTURE}.gguf`;
      const server = startCli(["serve", "--port", "0", "--model", url]);
      children.push(server);
      const room = await waitForLine(server, "stdout", /room for \S+: (http\S+)/);
      const peer = startCli(["join", "--name", "url-peer", ...EQUAL_SPEED], {
        PIPEMESH_ROOM_URL: room,
        PIPEMESH_CACHE_DIR: cacheDir(),
      });
      children.push(peer);
      const { tokens } = await generateTokens(
        ["--room", room, "--min-stages", "1", ...goldenArgs(golden)],
        { PIPEMESH_CACHE_DIR: cacheDir() },
      );
      expect(tokens).toEqual(golden.greedy);
      // The peer read the layers from the URL (the CDN behind it), not through the room's server.
      expect(h.bytesServed()).toBeGreaterThan(0.5 * golden.size);
      for (const p of [peer, server]) p.kill("SIGTERM");
    } finally {
      await h.close();
    }
  });
});
