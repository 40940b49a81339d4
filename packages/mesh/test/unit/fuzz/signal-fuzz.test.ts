// Property-based fuzzing of the signaling decoder and the relay behind it: 100k hostile values (mutated
// fixtures, arbitrary JSON, arbitrary values) never throw, and each rejection carries a protocol code; text
// fed to a live relay session only ever produces well-formed, coded replies.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MESH_ERROR_CODES } from "../../../src/errors.ts";
import { decodeSignal } from "../../../src/protocol/messages.ts";
import { Relay } from "../../../src/signaling/relay.ts";
import { SimClock } from "../../support/sim-clock.ts";
import { fixtures, FUZZ_RUNS, FUZZ_SEED, hostileValues } from "../../support/fuzz-inputs.ts";

const DECODE_CODES = new Set([
  "ERR_PROTOCOL_DECODE",
  "ERR_PROTOCOL_UNKNOWN",
  "ERR_PROTOCOL_VERSION",
]);
const seeds = fixtures("signal");

describe("signaling decoder fuzz", () => {
  it(`decodes ${FUZZ_RUNS} hostile values without throwing; every rejection is coded`, () => {
    let rejected = 0;
    fc.assert(
      fc.property(hostileValues(seeds), (x) => {
        const d = decodeSignal(x);
        if (!d.ok) {
          rejected++;
          if (!DECODE_CODES.has(d.error.code) || typeof d.error.message !== "string")
            throw new Error(`uncoded rejection: ${JSON.stringify(d.error)}`);
          return;
        }
        // What decodes is plain data: it survives a JSON round trip and decodes the same again.
        const again = decodeSignal(JSON.parse(JSON.stringify(d.msg)));
        if (JSON.stringify(again) !== JSON.stringify(d))
          throw new Error(`not stable: ${JSON.stringify(d.msg)}`);
      }),
      { seed: FUZZ_SEED, numRuns: FUZZ_RUNS },
    );
    expect(rejected).toBeGreaterThan(FUZZ_RUNS / 4);
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  }, 60_000);

  it("a relay fed hostile text answers only with well-formed, coded messages", () => {
    const relay = new Relay({
      clock: new SimClock(),
      broadcastTickMs: 0,
      limits: {
        maxMessagesPerSecond: 1e9,
        maxRoomsPerConnection: 1e9,
        roomsPerMinutePerAddress: 1e9,
      },
    });
    const { roomId, secret } = relay.createRoom({
      id: "pipemesh-tiny/target",
      layerCount: 4,
      layerBytes: 1000,
      embedBytes: 0,
      headBytes: 0,
    });
    const replies: string[] = [];
    const session = relay.open({ send: (t) => replies.push(t), close: () => {} });
    const join = {
      type: "join",
      v: 2,
      minV: 2,
      roomId,
      secret,
      role: "stage",
      caps: seeds.find((s) => s["type"] === "caps")?.["caps"],
    };
    session.receive(JSON.stringify(join));
    const text = fc.oneof(
      hostileValues(seeds).map((x) => {
        try {
          return JSON.stringify(x) ?? "null";
        } catch {
          return "{}";
        }
      }),
      fc.string({ maxLength: 200 }),
    );
    fc.assert(
      fc.property(text, (t) => {
        replies.length = 0;
        session.receive(t);
        for (const r of replies) {
          const d = decodeSignal(JSON.parse(r));
          expect(d.ok).toBe(true);
          if (d.ok && d.msg.type === "error")
            expect((MESH_ERROR_CODES as readonly string[]).includes(d.msg.code)).toBe(true);
        }
      }),
      { seed: FUZZ_SEED, numRuns: Math.min(FUZZ_RUNS, 20_000) },
    );
    relay.destroy();
  }, 60_000);
});
