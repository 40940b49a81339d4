// Golden v2 wire fixtures (test/protocol/v2, hand-written by make-fixtures.py): every message type has one,
// each decodes, and decode -> encode reproduces the fixture's fields in order, bodies byte for byte. A
// failure here means the wire format changed: bump PROTOCOL_VERSION instead of editing the fixtures.
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeMessage, encodeMessage } from "../../src/protocol/frame.ts";
import { decodePeer, decodeSignal, PROTOCOL_VERSION } from "../../src/protocol/messages.ts";
import { decodeResult, decodeRun } from "../../src/pipeline/wire.ts";

const dir = join(import.meta.dirname, "..", "protocol", "v2");
const files = (kind: string): string[] =>
  readdirSync(join(dir, kind))
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -5));
const load = (kind: string, name: string): unknown =>
  JSON.parse(readFileSync(join(dir, kind, `${name}.json`), "utf8"));

const SIGNAL_TYPES = [
  "create",
  "created",
  "join",
  "joined",
  "caps",
  "ready",
  "request",
  "queued",
  "granted",
  "release",
  "leave",
  "report",
  "state",
  "signal",
  "ping",
  "pong",
  "error",
];
const PEER_TYPES = [
  "hello",
  "run",
  "kv",
  "cancel",
  "skip",
  "result",
  "ping",
  "pong",
  "bye",
  "error",
];

describe("protocol v2 golden fixtures", () => {
  it("is the current protocol version", () => {
    expect(PROTOCOL_VERSION).toBe(2);
  });

  it("cover every message type", () => {
    const typeOf = (x: unknown): unknown => (x as { type?: unknown }).type;
    expect(new Set(files("signal").map((f) => typeOf(load("signal", f))))).toEqual(
      new Set(SIGNAL_TYPES),
    );
    expect(new Set(files("peer").map((f) => typeOf(load("peer", f))))).toEqual(new Set(PEER_TYPES));
  });

  it.each(files("signal"))("signal/%s round-trips", (name) => {
    const json = load("signal", name);
    const d = decodeSignal(json);
    if (!d.ok) throw new Error(`${d.error.code}: ${d.error.message}`);
    expect(JSON.stringify(d.msg)).toBe(JSON.stringify(json));
  });

  it.each(files("peer"))("peer/%s round-trips through a frame", (name) => {
    const json = load("peer", name);
    const binPath = join(dir, "peer", `${name}.bin`);
    const body = existsSync(binPath) ? new Uint8Array(readFileSync(binPath)) : new Uint8Array(0);
    const d = decodePeer(json);
    if (!d.ok) throw new Error(`${d.error.code}: ${d.error.message}`);
    expect(JSON.stringify(d.msg)).toBe(JSON.stringify(json));
    const wire = encodeMessage(d.msg, body);
    const headerText = JSON.stringify(json);
    expect(new DataView(wire.buffer).getUint32(0, true)).toBe(Buffer.byteLength(headerText));
    expect(Buffer.from(wire.subarray(4, 4 + Buffer.byteLength(headerText))).toString("utf8")).toBe(
      headerText,
    );
    const back = decodeMessage(wire);
    expect(back.header).toEqual(json);
    expect(Buffer.compare(back.body, body)).toBe(0);
  });

  it("bodies decode to the values the fixtures state", () => {
    const run = decodePeer(load("peer", "run"));
    const runF16 = decodePeer(load("peer", "run-f16"));
    const result = decodePeer(load("peer", "result"));
    if (!run.ok || run.msg.type !== "run" || !runF16.ok || runF16.msg.type !== "run")
      throw new Error("bad fixture");
    if (!result.ok || result.msg.type !== "result") throw new Error("bad fixture");
    const bin = (n: string): Uint8Array =>
      new Uint8Array(readFileSync(join(dir, "peer", `${n}.bin`)));
    expect(Array.from(decodeRun(run.msg, bin("run")).hidden ?? [])).toEqual([
      1, 2, 3, -1, 0.5, 0.25,
    ]);
    expect(Array.from(decodeRun(runF16.msg, bin("run-f16")).hidden ?? [])).toEqual([1, -2, 0.5]);
    const out = decodeResult(result.msg, bin("result"));
    expect(out.outputs[0]?.logits).toBeUndefined();
    expect(Array.from(out.outputs[1]?.logits ?? [])).toEqual([0, 1, 2, 3]);
    expect(Array.from(out.outputs[1]?.topProbs ?? [])).toEqual([0.75, 0.125]);
  });
});
