// Vitest projects: unit (pure logic, Node), parity (engine on WebGPU in Node/Dawn and in Chromium),
// integration (real processes, sockets and WebRTC on loopback) and e2e (the web app in Chromium).
// `npm test` runs all of them; REQUIRE_WEBGPU=1 (set by .ci/run) turns a missing Chromium or
// WebGPU adapter into a failure instead of a skip.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultClientConditions, defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

// Tests (and the CLI processes they start) keep downloaded weights in a fresh cache of their own, never in
// the user's ~/.cache/pipemesh; tests that check the cache set their own PIPEMESH_CACHE_DIR.
process.env["PIPEMESH_CACHE_DIR"] ??= mkdtempSync(join(tmpdir(), "pipemesh-test-cache-"));

const slow = Number(process.env.PIPEMESH_TEST_TIMEOUT_MS ?? 180_000);

export default defineConfig({
  // The workspaces' exports name their .ts sources under the "source" condition (their default is the
  // built JavaScript that packages ship): tests always run the current sources, never a build.
  resolve: { conditions: ["source", ...defaultClientConditions] },
  ssr: { resolve: { conditions: ["source", ...defaultServerConditions] } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["packages/*/test/unit/**/*.test.ts", "apps/*/test/unit/**/*.test.ts"],
          testTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: "parity",
          include: ["packages/*/test/parity/**/*.parity.test.ts"],
          testTimeout: slow,
          hookTimeout: slow,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: [
            "packages/*/test/integration/**/*.int.test.ts",
            "apps/*/test/integration/**/*.int.test.ts",
          ],
          testTimeout: slow,
          hookTimeout: slow,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: "e2e",
          include: ["apps/web/e2e/**/*.e2e.ts"],
          testTimeout: slow * 2,
          hookTimeout: slow * 2,
          fileParallelism: false,
        },
      },
    ],
  },
});
