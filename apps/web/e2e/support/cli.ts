// The single-device reference the page's replies must equal: `pipemesh generate --chat` on the CPU backend
// for the same prompt and model, at temperature 0, as a child process. Test-only.

import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO, type TestModel } from "./test-model.ts";

const run = promisify(execFile);

/** Generated ids as the CLI's JSON reports them (the stop token included when one ended the reply). */
export async function cliTokens(
  model: TestModel,
  prompt: string,
  maxTokens: number,
): Promise<number[]> {
  return (await cliResult(model, prompt, maxTokens)).tokens;
}

/** The CLI's JSON result: generated ids (as cliTokens) and the reply's text. */
export async function cliResult(
  model: TestModel,
  prompt: string,
  maxTokens: number,
): Promise<{ tokens: number[]; text: string }> {
  const { stdout } = await run(
    process.execPath,
    [
      join(REPO, "bin/pipemesh.mjs"),
      "generate",
      "--model",
      model.targetDir,
      "--draft",
      model.draftDir,
      "--chat",
      "--prompt",
      prompt,
      "--max-tokens",
      String(maxTokens),
      "--temperature",
      "0",
      "--json",
      "--backend",
      "cpu",
    ],
    { cwd: REPO, timeout: 300_000, maxBuffer: 16 << 20 },
  );
  const last = stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(last) as { tokens: number[]; text: string };
}
