// `generate --room`: the URL from the argument (warned about when it is on the command line), from stdin
// with `-`, or from PIPEMESH_ROOM_URL when --room has no value; parsed in args.ts (room-url.ts shared with
// join).
import { describe, expect, it } from "vitest";
import { parseGenerateArgs } from "../../src/args.ts";
import type { RoomUrlIo } from "../../src/room-url.ts";

const URL = "http://127.0.0.1:9/room/abcDEF2345#s3cretS3cretS3cretS3cr";
const ENV_URL = "http://10.0.0.1:8787/room/fromEnv#envSecretEnvSecretEnvSe";

function io(over: Partial<RoomUrlIo> = {}): { io: RoomUrlIo; warnings: string[]; reads: number } {
  const out = { warnings: [] as string[], reads: 0, io: {} as RoomUrlIo };
  out.io = {
    env: { PIPEMESH_ROOM_URL: ENV_URL },
    argv: [],
    readStdinLine: () => {
      out.reads++;
      return URL;
    },
    warn: (l) => void out.warnings.push(l),
    ...over,
  };
  return out;
}

const parse = (args: string[], o: RoomUrlIo) =>
  parseGenerateArgs([...args, "--prompt", "hi"], o).room;

describe("generate --room", () => {
  it("takes a URL argument, and warns only when it is on the command line", () => {
    const quiet = io();
    expect(parse(["--room", URL], quiet.io)).toBe(URL);
    expect(quiet.warnings).toEqual([]); // e.g. the API server's heads: not in ps
    const shown = io({ argv: ["node", "pipemesh", "generate", "--room", URL] });
    expect(parse(["--room", URL], shown.io)).toBe(URL);
    expect(shown.warnings).toHaveLength(1);
    expect(shown.warnings[0]).toContain("visible to other users in ps");
    expect(shown.warnings[0]).not.toContain("s3cret");
  });

  it("reads PIPEMESH_ROOM_URL when --room has no value (last, before another option, or --room=)", () => {
    const t = io();
    expect(parseGenerateArgs(["--prompt", "hi", "--room"], t.io).room).toBe(ENV_URL);
    expect(parse(["--room", "--max-tokens", "3"], t.io)).toBe(ENV_URL);
    expect(
      parseGenerateArgs(["--room", "--max-tokens", "3", "--prompt", "x"], t.io).maxTokens,
    ).toBe(3);
    expect(parse(["--room="], t.io)).toBe(ENV_URL);
    expect(t.warnings).toEqual([]);
    expect(t.reads).toBe(0);
    expect(() => parse(["--room"], io({ env: {} }).io)).toThrow(/PIPEMESH_ROOM_URL/);
    expect(() => parse(["--room"], io({ env: { PIPEMESH_ROOM_URL: " " } }).io)).toThrow(
      expect.objectContaining({ code: "ERR_CLI_USAGE" }),
    );
  });

  it("reads the URL from stdin with -", () => {
    const t = io();
    expect(parse(["--room", "-"], t.io)).toBe(URL);
    expect(t.reads).toBe(1);
    expect(t.warnings).toEqual([]);
    expect(() => parse(["--room", "-"], io({ readStdinLine: () => "" }).io)).toThrow(/stdin/);
  });

  it("leaves room undefined without --room, and reads nothing", () => {
    const t = io();
    expect(parse([], t.io)).toBeUndefined();
    expect(t.reads).toBe(0);
  });
});
