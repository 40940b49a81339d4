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
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  // Keep both pipes flowing even when no test reads them: a full pipe would block the child's writes
  // (a long-running serve or join logs as it goes). Readers added later (collect, waitForLine) still
  // see everything written after they attach, which is before the child's first output.
  child.stdout?.on("data", () => {});
  child.stderr?.on("data", () => {});
  return child;
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

/** Resolves with the first match of `re` (its group 1, else the match) in the child's stream; rejects
 * when the child exits first. */
export function waitForLine(
  child: ChildProcess,
  stream: "stdout" | "stderr",
  re: RegExp,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const s = child[stream];
    if (s === null) return reject(new Error(`no ${stream}`));
    s.setEncoding("utf8");
    const onData = (d: string): void => {
      text += d;
      const m = re.exec(text);
      if (m !== null) {
        s.off("data", onData);
        resolve(m[1] ?? m[0]);
      }
    };
    s.on("data", onData);
    child.once("exit", (code) =>
      reject(new Error(`exited (${code}) before ${re} appeared:\n${text}`)),
    );
  });
}

/** `generate` arguments that reproduce a golden: its prompt ids, its length, greedy, no early stop. */
export function goldenArgs(golden: {
  prompt: readonly number[];
  greedy: readonly number[];
}): string[] {
  return [
    "--prompt-ids",
    golden.prompt.join(","),
    "--max-tokens",
    String(golden.greedy.length),
    "--temperature",
    "0",
    "--ignore-eos",
  ];
}

/**
 * `pipemesh join` flags for test peers that must all hold layers: one claimed speed instead of each peer's
 * own probe. The room splits layers in proportion to speed, and a probe on a loaded machine can measure a
 * peer slow enough to be left idle, which a test that waits for every peer's stage would wait on forever.
 */
export const EQUAL_SPEED: readonly string[] = ["--matmul-gflops", "1"];
