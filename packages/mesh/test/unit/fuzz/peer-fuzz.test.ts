// Property-based fuzzing of the peer wire: 100k hostile headers through decodePeer, 100k hostile payloads
// through decodeMessage, and 100k chunk sequences (real messages cut small, then with gaps, duplicates,
// reordering, corrupted headers and lies about sizes) through a Reassembler. Nothing throws except coded
// FrameErrors, pending bytes never pass the cap, and untouched sequences come back intact.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeMessage,
  encodeMessage,
  FRAME_HEADER_BYTES,
  FrameError,
  Reassembler,
  toFrames,
} from "../../../src/protocol/frame.ts";
import { decodePeer } from "../../../src/protocol/messages.ts";
import { fixtures, FUZZ_RUNS, FUZZ_SEED, hostileValues } from "../../support/fuzz-inputs.ts";

const DECODE_CODES = new Set([
  "ERR_PROTOCOL_DECODE",
  "ERR_PROTOCOL_UNKNOWN",
  "ERR_PROTOCOL_VERSION",
]);
const FRAME_CODES = new Set(["ERR_FRAME", "ERR_MESSAGE_TOO_LARGE"]);
const seeds = fixtures("peer");
const CAP = 4096;

function frameCode(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    if (!(e instanceof FrameError)) throw e;
    return e.code;
  }
}

describe("peer decoder fuzz", () => {
  it(`decodes ${FUZZ_RUNS} hostile headers without throwing; every rejection is coded`, () => {
    fc.assert(
      fc.property(hostileValues(seeds), (x) => {
        const d = decodePeer(x);
        if (!d.ok && !DECODE_CODES.has(d.error.code)) throw new Error(`uncoded: ${d.error.code}`);
      }),
      { seed: FUZZ_SEED, numRuns: FUZZ_RUNS },
    );
  }, 60_000);

  it(`decodes ${FUZZ_RUNS} hostile payloads: a header and body, or ERR_FRAME`, () => {
    const payload = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc
        .tuple(fc.nat(), fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 16 }))
        .map(([len, json, body]) => {
          const j = new TextEncoder().encode(json);
          const out = new Uint8Array(4 + j.length + body.length);
          new DataView(out.buffer).setUint32(0, len % (j.length + 8), true);
          out.set(j, 4);
          out.set(body, 4 + j.length);
          return out;
        }),
    );
    fc.assert(
      fc.property(payload, (p) => {
        const code = frameCode(() => decodeMessage(p));
        if (code !== null && code !== "ERR_FRAME") throw new Error(`uncoded: ${code}`);
      }),
      { seed: FUZZ_SEED, numRuns: FUZZ_RUNS },
    );
  }, 60_000);
});

type Op =
  | { kind: "drop"; at: number }
  | { kind: "dup"; at: number }
  | { kind: "swap"; at: number }
  | { kind: "poke"; at: number; byte: number; value: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("drop" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("dup" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("swap" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("poke" as const),
    at: fc.nat(),
    byte: fc.nat({ max: FRAME_HEADER_BYTES - 1 }),
    value: fc.nat({ max: 255 }),
  }),
);

function apply(frames: Uint8Array[], ops: Op[]): Uint8Array[] {
  const out: Uint8Array[] = frames.map((f) => f.slice());
  for (const o of ops) {
    if (out.length === 0) break;
    const i = o.at % out.length;
    const f = out[i] as Uint8Array;
    if (o.kind === "drop") out.splice(i, 1);
    else if (o.kind === "dup") out.splice(i, 0, f.slice());
    else if (o.kind === "swap" && i + 1 < out.length) {
      out[i] = out[i + 1] as Uint8Array;
      out[i + 1] = f;
    } else if (o.kind === "poke") f[o.byte] = o.value; // magic, kind, id, total (size lies), offset
  }
  return out;
}

describe("chunk sequence fuzz", () => {
  it(`reassembles ${FUZZ_RUNS} mangled chunk sequences: coded errors only, bounded memory`, () => {
    const message = fc.tuple(fc.nat({ max: 600 }), fc.nat({ max: 3 })).map(([n, id]) => {
      const body = new Uint8Array(n).map((_, i) => (i * 7 + id) & 0xff);
      return { id: id + 1, payload: encodeMessage({ type: "ping", v: 2, t: id }, body) };
    });
    const sequence = fc.tuple(
      fc.array(message, { minLength: 1, maxLength: 3 }),
      fc.integer({ min: FRAME_HEADER_BYTES + 32, max: 400 }),
      fc.array(op, { maxLength: 3 }),
    );
    let intact = 0;
    fc.assert(
      fc.property(sequence, ([messages, frameBytes, ops]) => {
        // Messages interleave frame by frame, as the data and control lanes may.
        const lists = messages.map((m) => toFrames(m.payload, m.id, frameBytes));
        const frames: Uint8Array[] = [];
        for (let i = 0; lists.some((l) => i < l.length); i++)
          for (const l of lists) if (i < l.length) frames.push(l[i] as Uint8Array);
        const mangled = apply(frames, ops);
        let r = new Reassembler({ maxMessageBytes: CAP });
        const done: Uint8Array[] = [];
        let failed = false;
        for (const f of mangled) {
          let out: Uint8Array | null = null;
          const code = frameCode(() => (out = r.push(f)));
          if (code !== null) {
            if (!FRAME_CODES.has(code)) throw new Error(`uncoded failure ${code}`);
            failed = true;
            r = new Reassembler({ maxMessageBytes: CAP }); // a link fails; a new one starts clean
            continue;
          }
          if (out !== null) done.push(out);
          if (r.pendingBytes > CAP) throw new Error(`${r.pendingBytes} pending bytes`);
        }
        if (ops.length === 0 && new Set(messages.map((m) => m.id)).size === messages.length) {
          if (failed || done.length !== messages.length) throw new Error("intact sequence lost");
          intact++;
        }
      }),
      { seed: FUZZ_SEED, numRuns: FUZZ_RUNS },
    );
    expect(intact).toBeGreaterThan(0);
  }, 60_000);
});
