// generate's speculation flags reach the scheduler's resolved options: the pipeinfer knobs (--max-in-flight,
// --governor, --corrections, --max-partitions) and what a bad value says.
import { describe, expect, it } from "vitest";
import { resolveConfig } from "@pipemesh/mesh";
import { parseGenerateArgs } from "../../src/args.ts";
import { speculationOf } from "../../src/head/cli-head.ts";

const resolved = (args: string[]) =>
  resolveConfig(
    { speculation: speculationOf(parseGenerateArgs([...args, "--prompt", "hi"])) },
    true,
  ).speculation;

describe("generate speculation flags", () => {
  it("leaves the scheduler's defaults when absent", () => {
    const s = resolved([]);
    expect(s.speculateCorrections).toBe(false);
    expect(s.maxPartitions).toBe(12);
    expect(s.maxInFlightRuns).toBe(4);
    expect(s.governor).toBe(true);
  });

  it("sets correction forks, partitions, runs in flight and the governor", () => {
    const s = resolved([
      "--corrections",
      "on",
      "--max-partitions",
      "20",
      "--max-in-flight",
      "12",
      "--governor",
      "off",
      "--draft-branches",
      "3",
    ]);
    expect(s.speculateCorrections).toBe(true);
    expect(s.maxPartitions).toBe(20);
    expect(s.maxInFlightRuns).toBe(12);
    expect(s.governor).toBe(false);
  });

  it("caps partitions by the stages' sequence ids (64: 21 blocks of 3)", () => {
    expect(resolved(["--max-partitions", "64", "--draft-branches", "3"]).maxPartitions).toBe(21);
  });

  it("refuses values it cannot use with ERR_CLI_USAGE", () => {
    for (const bad of [
      ["--corrections", "yes"],
      ["--max-partitions", "0"],
      ["--max-partitions", "2.5"],
    ]) {
      expect(() => parseGenerateArgs([...bad, "--prompt", "hi"])).toThrow(
        expect.objectContaining({ code: "ERR_CLI_USAGE" }),
      );
    }
  });
});
