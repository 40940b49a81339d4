// `pipemesh join` takes the room URL from PIPEMESH_ROOM_URL or stdin (`-`), so its secret stays out of `ps`,
// warns when it is an argument, and never prints the secret in an error.
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { BIN, collect, REPO, runCli } from "../support/run-cli.ts";

const SECRET = "s3cretS3cretS3cretS3cr";
const FAST = ["--backend", "cpu", "--matmul-gflops", "1"];
/** A room URL on a port nothing listens on: join fails at the signaling connection. */
const UNREACHABLE = `http://127.0.0.1:9/room/abcDEF2345#${SECRET}`;

describe("pipemesh join: the room URL and its secret", () => {
  it("reads PIPEMESH_ROOM_URL and never prints the secret", async () => {
    const r = await runCli(["join", ...FAST], { PIPEMESH_ROOM_URL: UNREACHABLE });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERR_SIGNALING_CLOSED");
    expect(r.stderr).not.toContain("visible to other users");
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  it("reads the URL from stdin with -", async () => {
    const child = spawn(process.execPath, [BIN, "join", "-", ...FAST], {
      cwd: REPO,
      stdio: ["pipe", "pipe", "pipe"],
    });
    child.stdin.end(`http://127.0.0.1:9/rooms/abc#${SECRET}\n`);
    const r = await collect(child);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERR_ROOM_NOT_FOUND");
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  it("warns when the URL is an argument, and needs one from somewhere", async () => {
    const arg = await runCli(["join", UNREACHABLE, ...FAST]);
    expect(arg.stderr).toContain("visible to other users in ps");
    expect(arg.stderr.replace(UNREACHABLE, "")).not.toContain(SECRET);
    const none = await runCli(["join", ...FAST], { PIPEMESH_ROOM_URL: "" });
    expect(none.code).toBe(2);
  });
});
