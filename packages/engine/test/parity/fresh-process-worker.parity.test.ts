// A WebGPU shard (and a WebGPU engine drafter) in a worker_thread of a brand-new Node process whose main
// thread never opened WebGPU: spawnNodeShardWorker / spawnNodeDrafterWorker must prepare Dawn's
// environment (EGL_PLATFORM, the SwiftShader ICD) in the main thread, because a worker's process.env
// changes never reach native code. The child starts with those variables removed and must still find an
// adapter and produce the golden tokens.

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadGolden, modelFixtureDir, PRIMARY_FIXTURE } from "../fixtures/fixtures.ts";
import { fixtureConfig } from "../suites/backends.ts";
import { openNodeGpu } from "../support/node-gpu.ts";

const probe = await openNodeGpu("auto");
probe.ctx?.destroy();

const CHILD = fileURLToPath(new URL("../support/fresh-process-worker.mjs", import.meta.url));
/** What prepareDawnEnvironment sets; the vitest process has them, so the child must not inherit them. */
const DAWN_ENV = ["EGL_PLATFORM", "VK_ADD_DRIVER_FILES", "VK_ICD_FILENAMES", "VK_DRIVER_FILES"];

interface ChildReport {
  backend: string;
  adapter: string;
  greedy: number[];
  eglBefore: string | null;
  eglAfter: string | null;
}

function runChild(args: string[], env: NodeJS.ProcessEnv): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CHILD, ...args],
      { env, timeout: 120_000 },
      (err, stdout, stderr) => {
        if (err !== null) {
          reject(new Error(`child failed: ${err.message}\n${stderr}`));
          return;
        }
        const line = stdout.trim().split("\n").pop() ?? "";
        resolve(JSON.parse(line) as ChildReport);
      },
    );
  });
}

describe.skipIf(probe.ctx === null)(`a fresh process's WebGPU worker ${probe.reason}`, () => {
  const env = { ...process.env };
  for (const name of DAWN_ENV) delete env[name];

  it("a shard worker finds an adapter without the main thread opening WebGPU and decodes the golden tokens", async () => {
    const { golden } = loadGolden(PRIMARY_FIXTURE);
    const config = await fixtureConfig(PRIMARY_FIXTURE);
    const steps = 6;
    const report = await runChild(
      [
        "shard",
        modelFixtureDir(PRIMARY_FIXTURE),
        String(config.numLayers),
        JSON.stringify(golden.prompt),
        String(steps),
      ],
      env,
    );
    expect(report.eglBefore).toBeNull();
    expect(report.eglAfter).toBe("surfaceless");
    expect(report.backend).toBe("webgpu");
    expect(report.adapter).not.toBe("");
    expect(report.greedy).toEqual(golden.greedy.slice(0, steps));
  });

  it("a WebGPU engine drafter worker does too and predicts the golden's first token", async () => {
    const { golden } = loadGolden(PRIMARY_FIXTURE);
    const config = await fixtureConfig(PRIMARY_FIXTURE);
    const report = await runChild(
      [
        "drafter",
        modelFixtureDir(PRIMARY_FIXTURE),
        String(config.numLayers),
        JSON.stringify(golden.prompt),
        "1",
      ],
      env,
    );
    expect(report.eglBefore).toBeNull();
    expect(report.eglAfter).toBe("surfaceless");
    expect(report.greedy).toEqual(golden.greedy.slice(0, 1));
  });
});
