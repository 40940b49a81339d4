// Decoders against malformed input: every bad message yields a coded error, never a throw, and never a
// message with fields the schema does not allow.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  decodePeer,
  decodeSignal,
  negotiateVersion,
  PROTOCOL_VERSION,
} from "../../src/protocol/messages.ts";

const hello = { type: "hello", v: 2, minV: 2, peerId: "abc" };
const run = {
  type: "run",
  v: 2,
  runId: 1,
  kind: "canonical",
  rows: 2,
  cols: 4,
  dtype: "f32",
  positions: [0, 1],
  seqIds: [[0], [0]],
  outputRows: [1],
  stageComputeMs: 0,
};

const report = {
  type: "report",
  v: 2,
  peerId: "st4g3",
  code: "ERR_PEER_LOST",
  message: "no heartbeat",
};

/** A state message whose plan has `extra` fields. */
function stateWith(extra: Record<string, unknown>): unknown {
  return {
    type: "state",
    v: 2,
    state: {
      roomId: "r",
      model: { id: "m", layerCount: 1, layerBytes: 1, embedBytes: 0, headBytes: 0 },
      members: [],
      plan: {
        version: 1,
        modelId: "m",
        layerCount: 1,
        headId: null,
        stages: [{ peerId: "a", layerStart: 0, layerEnd: 1 }],
        idle: ["x"],
        ...extra,
      },
      planError: null,
      ready: false,
      active: null,
      queue: [],
    },
  };
}

function code(d: { ok: true } | { ok: false; error: { code: string } }): string {
  return d.ok ? "ok" : d.error.code;
}

describe("decodePeer", () => {
  it.each<[string, unknown, string]>([
    ["null", null, "ERR_PROTOCOL_DECODE"],
    ["a number", 42, "ERR_PROTOCOL_DECODE"],
    ["an array", [hello], "ERR_PROTOCOL_DECODE"],
    ["no type", { v: 2 }, "ERR_PROTOCOL_DECODE"],
    ["unknown type", { type: "teleport", v: 2 }, "ERR_PROTOCOL_UNKNOWN"],
    ["missing v", { type: "cancel", runIds: [1] }, "ERR_PROTOCOL_DECODE"],
    ["future v on a data message", { type: "cancel", v: 3, runIds: [1] }, "ERR_PROTOCOL_VERSION"],
    ["v0", { type: "cancel", v: 0, runIds: [1] }, "ERR_PROTOCOL_VERSION"],
    ["string runIds", { type: "cancel", v: 2, runIds: "1,2" }, "ERR_PROTOCOL_DECODE"],
    [
      "fractional runId",
      { type: "skip", v: 2, runId: 1.5, stageComputeMs: 0 },
      "ERR_PROTOCOL_DECODE",
    ],
    [
      "negative compute time",
      { type: "skip", v: 2, runId: 1, stageComputeMs: -1 },
      "ERR_PROTOCOL_DECODE",
    ],
    ["bad peer id", { ...hello, peerId: "no spaces allowed" }, "ERR_PROTOCOL_DECODE"],
    ["huge peer id", { ...hello, peerId: "x".repeat(500) }, "ERR_PROTOCOL_DECODE"],
    ["run: positions length", { ...run, positions: [0] }, "ERR_PROTOCOL_DECODE"],
    ["run: empty seq set", { ...run, seqIds: [[0], []] }, "ERR_PROTOCOL_DECODE"],
    ["run: outputRows out of range", { ...run, outputRows: [2] }, "ERR_PROTOCOL_DECODE"],
    ["run: unknown kind", { ...run, kind: "maybe" }, "ERR_PROTOCOL_DECODE"],
    ["run: unknown dtype", { ...run, dtype: "bf16" }, "ERR_PROTOCOL_DECODE"],
    [
      "run: zero rows",
      { ...run, rows: 0, positions: [], seqIds: [], outputRows: [] },
      "ERR_PROTOCOL_DECODE",
    ],
    ["kv: unknown op", { type: "kv", v: 2, op: { op: "seq_mv", seq: 1 } }, "ERR_PROTOCOL_DECODE"],
    [
      "kv: missing p1",
      { type: "kv", v: 2, op: { op: "seq_rm", seq: 1, p0: 0 } },
      "ERR_PROTOCOL_DECODE",
    ],
    [
      "result: logits without vocab",
      {
        type: "result",
        v: 2,
        runId: 1,
        stageComputeMs: 0,
        outputs: [{ row: 0, argmax: 1, prob: 0.5, topIds: [1], topProbs: [0.5], logits: true }],
      },
      "ERR_PROTOCOL_DECODE",
    ],
    [
      "result: prob above 1",
      {
        type: "result",
        v: 2,
        runId: 1,
        stageComputeMs: 0,
        outputs: [{ row: 0, argmax: 1, prob: 2, topIds: [], topProbs: [] }],
      },
      "ERR_PROTOCOL_DECODE",
    ],
    [
      "result: top-k lengths differ",
      {
        type: "result",
        v: 2,
        runId: 1,
        stageComputeMs: 0,
        outputs: [{ row: 0, argmax: 1, prob: 0.5, topIds: [1, 2], topProbs: [0.5] }],
      },
      "ERR_PROTOCOL_DECODE",
    ],
    [
      "error: not a code",
      { type: "error", v: 2, code: "boom", message: "x" },
      "ERR_PROTOCOL_DECODE",
    ],
  ])("%s -> %s", (_, input, expected) => {
    expect(code(decodePeer(input))).toBe(expected);
  });

  it("lets hello through with any version so the link can refuse it with a reason", () => {
    const d = decodePeer({ ...hello, v: 99, minV: 99 });
    expect(d.ok).toBe(true);
    expect(negotiateVersion(99, 99)).toBeNull();
    expect(negotiateVersion(99, 2)).toBe(PROTOCOL_VERSION);
    expect(negotiateVersion(1, 1)).toBeNull(); // below MIN_SUPPORTED_VERSION
    expect(negotiateVersion(1, 1, { v: 99, minV: 99 })).toBeNull();
  });

  it("drops fields the schema does not know", () => {
    const d = decodePeer({ ...hello, evil: { __proto__: { polluted: true } }, extra: 1 });
    expect(d.ok && d.msg).toEqual(hello);
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });

  it("keeps an error code it does not know as a string (narrowed by the receiver)", () => {
    const d = decodePeer({ type: "error", v: 2, code: "ERR_FROM_THE_FUTURE", message: "x" });
    expect(d.ok && d.msg.type === "error" && d.msg.code).toBe("ERR_FROM_THE_FUTURE");
  });
});

describe("decodeSignal", () => {
  it.each<[string, unknown, string]>([
    [
      "join with a bad role",
      { type: "join", v: 2, minV: 2, roomId: "r", secret: "s", role: "king", caps: {} },
      "ERR_PROTOCOL_DECODE",
    ],
    [
      "create with no layers",
      {
        type: "create",
        v: 2,
        model: { id: "m", layerCount: 0, layerBytes: 1, embedBytes: 0, headBytes: 0 },
      },
      "ERR_PROTOCOL_DECODE",
    ],
    [
      "signal without connId",
      { type: "signal", v: 2, to: "p", data: { type: "offer", sdp: "x" } },
      "ERR_PROTOCOL_DECODE",
    ],
    [
      "signal with an unknown payload",
      { type: "signal", v: 2, to: "p", connId: "c", data: { type: "bribe" } },
      "ERR_PROTOCOL_DECODE",
    ],
    [
      "signal with a huge sdp",
      {
        type: "signal",
        v: 2,
        to: "p",
        connId: "c",
        data: { type: "offer", sdp: "x".repeat(70_000) },
      },
      "ERR_PROTOCOL_DECODE",
    ],
    [
      "ready with end before start",
      { type: "ready", v: 2, layerStart: 4, layerEnd: 2 },
      "ERR_PROTOCOL_DECODE",
    ],
    ["queued at position 0", { type: "queued", v: 2, position: 0 }, "ERR_PROTOCOL_DECODE"],
    ["report", { ...report }, "ok"],
    ["report without a message", { ...report, message: undefined }, "ERR_PROTOCOL_DECODE"],
    ["report with a long message", { ...report, message: "x".repeat(1025) }, "ERR_PROTOCOL_DECODE"],
    ["report of a bad peer id", { ...report, peerId: "a b" }, "ERR_PROTOCOL_DECODE"],
    ["report with a lowercase code", { ...report, code: "ERR_peer" }, "ERR_PROTOCOL_DECODE"],
    ["report with a bare code", { ...report, code: "ERR_" }, "ERR_PROTOCOL_DECODE"],
    [
      "report with a 41-character code",
      { ...report, code: `ERR_${"A".repeat(41)}` },
      "ERR_PROTOCOL_DECODE",
    ],
    ["report with a 40-character code", { ...report, code: `ERR_${"A".repeat(40)}` }, "ok"],
    ["state with a bad standby", stateWith({ standby: [{ peerId: "x" }] }), "ERR_PROTOCOL_DECODE"],
    [
      "state with a standby",
      stateWith({ standby: [{ peerId: "x", layerStart: 0, layerEnd: 1 }] }),
      "ok",
    ],
    ["request from the future", { type: "request", v: 7 }, "ERR_PROTOCOL_VERSION"],
    ["unknown type", { type: "hack", v: 2 }, "ERR_PROTOCOL_UNKNOWN"],
  ])("%s -> %s", (_, input, expected) => {
    expect(code(decodeSignal(input))).toBe(expected);
  });

  it("keeps a plan's standby list; a plan without one decodes without it", () => {
    const d = decodeSignal(stateWith({ standby: [{ peerId: "x", layerStart: 0, layerEnd: 1 }] }));
    expect(d.ok && d.msg.type === "state" && d.msg.state.plan?.standby).toEqual([
      { peerId: "x", layerStart: 0, layerEnd: 1 },
    ]);
    const without = decodeSignal(stateWith({}));
    expect(
      without.ok && without.msg.type === "state" && "standby" in (without.msg.state.plan ?? {}),
    ).toBe(false);
  });

  it("never throws on mutated fixtures (fuzz)", () => {
    const dir = join(import.meta.dirname, "..", "protocol", "v2");
    const samples: unknown[] = [];
    for (const kind of ["signal", "peer"]) {
      for (const f of readdirSync(join(dir, kind)).filter((x) => x.endsWith(".json"))) {
        samples.push(JSON.parse(readFileSync(join(dir, kind, f), "utf8")));
      }
    }
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const junk = [
      null,
      -1,
      1.5,
      "",
      "x".repeat(3000),
      [],
      {},
      true,
      1e300,
      [[[]]],
      { type: "run" },
    ];
    const mutate = (x: unknown, depth: number): unknown => {
      if (depth > 0 && rand(4) === 0) return junk[rand(junk.length)];
      if (Array.isArray(x)) return x.map((y) => mutate(y, depth + 1));
      if (x !== null && typeof x === "object") {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(x)) if (rand(8) !== 0) out[k] = mutate(v, depth + 1);
        return out;
      }
      return x;
    };
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const m = mutate(samples[i % samples.length], 0);
      const a = decodeSignal(m);
      const b = decodePeer(m);
      if (!a.ok) expect(a.error.code).toMatch(/^ERR_PROTOCOL_(DECODE|UNKNOWN|VERSION)$/);
      if (!b.ok) rejected++;
    }
    expect(rejected).toBeGreaterThan(1000);
  });
});
