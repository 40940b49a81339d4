// Vitest projects: unit (pure logic, Node), parity (engine on WebGPU in Node/Dawn and in Chromium),
// integration (real processes, sockets and WebRTC on loopback) and e2e (the web app in Chromium).
// `npm test` runs all of them; REQUIRE_WEBGPU=1 (set by .ci/run) turns a missing Chromium or
// WebGPU adapter into a failure instead of a skip.
import { defineConfig } from "vitest/config";

const slow = Number(process.env.PIPEMESH_TEST_TIMEOUT_MS ?? 180_000);

export default defineConfig({
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
