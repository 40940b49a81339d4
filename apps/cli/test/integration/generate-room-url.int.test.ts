// `pipemesh generate --room` takes the room URL from stdin (`--room -`) or PIPEMESH_ROOM_URL (`--room` with no
// value), so its secret stays out of `ps`, warns when it is an argument, and never prints the secret.
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { BIN, collect, REPO, runCli } from "../support/run-cli.ts";

const SECRET = "s3cretS3cretS3cretS3cr";
const ARGS = ["--prompt", "hi", "--backend", "cpu"];
/** A room URL on a port nothing listens on: generate fails at the signaling connection. */
const UNREACHABLE = `http://127.0.0.1:9/room/abcDEF2345#${SECRET}`;

describe("pipemesh generate --room: the room URL and its secret", () => {
  it("reads the URL from stdin with --room -", async () => {
    const child = spawn(process.execPath, [BIN, "generate", "--room", "-", ...ARGS], {
      cwd: REPO,
      env: { ...process.env, PIPEMESH_ROOM_URL: "" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    child.stdin.end(`${UNREACHABLE}\n`);
    const r = await collect(child);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERR_SIGNALING_CLOSED");
    expect(r.stderr).not.toContain("visible to other users");
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  it("reads PIPEMESH_ROOM_URL when --room has no value", async () => {
    const r = await runCli(["generate", ...ARGS, "--room"], { PIPEMESH_ROOM_URL: UNREACHABLE });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERR_SIGNALING_CLOSED");
    expect(r.stderr).not.toContain("visible to other users");
    expect(r.stdout + r.stderr).not.toContain(SECRET);
    const none = await runCli(["generate", "--room", ...ARGS], { PIPEMESH_ROOM_URL: "" });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("PIPEMESH_ROOM_URL");
  });

  it("warns when the URL is an argument", async () => {
    const r = await runCli(["generate", "--room", UNREACHABLE, ...ARGS]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("visible to other users in ps");
    expect(r.stderr.replace(UNREACHABLE, "")).not.toContain(SECRET);
  });
});
