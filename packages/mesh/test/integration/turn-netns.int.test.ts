// Peers that cannot reach each other connect through TURN: two network namespaces with forwarding between
// them dropped, coturn on the gateways, and a WebRTC peer (node-datachannel) in each. Without ICE servers
// the connection fails (the direct path really is blocked); with the TURN server it opens over relay
// candidates and carries data. Needs root, iproute2, iptables and coturn (.ci/run installs them): skipped
// with the reason where one is missing, except under CI=1 or REQUIRE_WEBGPU=1 (as .ci/run sets), where a
// missing prerequisite fails the run. The namespaces and DROP rules are removed when the suite ends, also
// when setup or a test fails, and when the worker is interrupted.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  available,
  iceServersFor,
  NETNS,
  setup,
  startCoturn,
  teardown,
} from "../support/turn-netns.ts";

const missing = available();
const required = process.env["CI"] === "1" || process.env["REQUIRE_WEBGPU"] === "1";
const CHILD = fileURLToPath(new URL("../support/ts-child.mjs", import.meta.url));

interface Outcome {
  result: string;
  candidates: string[];
}

function peer(
  ns: string,
  role: string,
  ice: object[],
): { child: ChildProcess; done: Promise<Outcome> } {
  const child = spawn(
    "ip",
    ["netns", "exec", ns, process.execPath, CHILD, "./turn-peer.ts", role, JSON.stringify(ice)],
    { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, TURN_PEER_TIMEOUT_MS: "6000" } },
  );
  const done = new Promise<Outcome>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${role} exited (${code}) without a result`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const m = JSON.parse(line) as { result?: string; candidates?: string[] };
      if (m.result !== undefined) resolve({ result: m.result, candidates: m.candidates ?? [] });
    });
  });
  return { child, done };
}

/** Runs one connection attempt, relaying each side's signal lines to the other. */
async function connect(withTurn: boolean): Promise<[Outcome, Outcome]> {
  const a = peer(NETNS.a, "initiator", withTurn ? iceServersFor("a") : []);
  const b = peer(NETNS.b, "answerer", withTurn ? iceServersFor("b") : []);
  const pipe = (from: ChildProcess, to: ChildProcess): void => {
    createInterface({ input: from.stdout! }).on("line", (line) => {
      if (line.includes('"signal"') && to.stdin?.writable === true) to.stdin.write(`${line}\n`);
    });
  };
  pipe(a.child, b.child);
  pipe(b.child, a.child);
  try {
    return await Promise.all([a.done, b.done]);
  } finally {
    a.child.kill();
    b.child.kill();
  }
}

if (missing !== null && required)
  describe("TURN across network namespaces (required: CI=1 or REQUIRE_WEBGPU=1)", () => {
    it("has its prerequisites", () => {
      throw new Error(
        `the TURN test cannot run: ${missing} (run .ci/run as root, or install coturn, iptables and iproute2)`,
      );
    });
  });

describe.skipIf(missing !== null)(
  `TURN across network namespaces${missing === null ? "" : ` (skipped: ${missing})`}`,
  () => {
    let coturn: ChildProcess | null = null;
    beforeAll(async () => {
      try {
        await setup();
        coturn = await startCoturn();
      } catch (e) {
        teardown();
        throw e;
      }
    });
    afterAll(() => {
      coturn?.kill();
      expect(teardown()).toEqual([]);
    });

    it("cannot connect without TURN: the direct path is blocked", async () => {
      const [a] = await connect(false);
      expect(a.result).not.toBe("ok");
    });

    it("connects through coturn over relay candidates and carries data", async () => {
      const [a, b] = await connect(true);
      expect(a.result).toBe("ok");
      expect(b.result).toBe("ok");
      expect(a.candidates).toContain("relay");
    });
  },
);
