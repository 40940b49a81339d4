// Runs the real `pipemesh` command (bin/pipemesh.mjs) as a child process for integration tests and parses
// the JSON it prints as its last stdout line. Test support only.

import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const BIN = fileURLToPath(new URL("../../../../bin/pipemesh.mjs", import.meta.url));
export const REPO = fileURLToPath(new URL("../../../../", import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The last stdout line parsed as JSON (undefined if it is not JSON). */
  json: Record<string, unknown> | undefined;
}

export function startCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  return new Promise((resolve) => {
    child.on("close", (code) => {
      const last = stdout.trim().split("\n").at(-1) ?? "";
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(last) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}

export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return collect(startCli(args, env));
}

/** `generate ... --json` and its tokens; fails the test with stderr when the command fails. */
export async function generateTokens(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ tokens: number[]; json: Record<string, unknown> }> {
  const r = await runCli(["generate", ...args, "--json"], env);
  if (r.code !== 0 || r.json === undefined || !Array.isArray(r.json["tokens"])) {
    throw new Error(
      `pipemesh generate ${args.join(" ")} failed (${r.code}):\n${r.stderr}\n${r.stdout}`,
    );
  }
  return { tokens: r.json["tokens"] as number[], json: r.json };
}
