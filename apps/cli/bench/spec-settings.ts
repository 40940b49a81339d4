// bench:spec per-mode settings: the speculation knobs each mode runs with in each scenario, read from the
// committed spec-defaults.json (written by `npm run bench:spec -- --tune`), and how they reach the
// scheduler: through the CLI's own flags (parseGenerateArgs, speculationOf), firstDraftMax directly.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { DEFAULT_SPECULATION, type DecodeMode, type SpeculationOptions } from "@pipemesh/mesh";
import type { GenerateOptions } from "../src/args.ts";
import { speculationOf } from "../src/head/cli-head.ts";

/** The knobs bench:spec sets (and --tune searches); absent ones keep the scheduler's defaults. */
export interface Knobs {
  draftMax?: number;
  draftBranches?: number;
  pAccept?: number;
  maxInFlightRuns?: number;
  firstDraftMax?: number;
  governor?: boolean;
  /** PipeInfer's correction forks (the draft's other candidates where a miss is likely). */
  corrections?: boolean;
}

export interface ScenarioSettings {
  speculative: Knobs;
  pipeinfer: Knobs;
}

/** One candidate the tuner measured: its knobs and end-to-end tokens/s over the tuning prompts. */
export interface TuneTrial {
  knobs: Knobs;
  e2eTokensPerSecond: number;
}

export interface SettingsFile {
  about: string;
  /** How and where the settings were tuned (null: never tuned, the scheduler's defaults). */
  tuned: {
    date: string;
    machine: string;
    drafter: string;
    prompts: number;
    maxTokens: number;
    objective: string;
    wallMs: Record<string, number>;
  } | null;
  scenarios: Record<string, ScenarioSettings>;
  /** Every candidate measured per scenario and mode, in the order tried. */
  trials: Record<string, Record<"speculative" | "pipeinfer", TuneTrial[]>>;
}

export const SETTINGS_FILE = new URL("./spec-defaults.json", import.meta.url);

/** The scheduler's defaults, restricted to the knobs a mode uses. */
export function untunedKnobs(mode: DecodeMode): Knobs {
  const d: SpeculationOptions = DEFAULT_SPECULATION;
  if (mode === "plain") return {};
  if (mode === "speculative")
    return { draftMax: d.draftMax, draftBranches: d.draftBranches, pAccept: d.pAccept };
  return {
    maxInFlightRuns: d.maxInFlightRuns,
    firstDraftMax: d.firstDraftMax,
    draftMax: d.draftMax,
    pAccept: d.pAccept,
    governor: d.governor,
    corrections: d.speculateCorrections,
  };
}

export function readSettings(file: URL | string = SETTINGS_FILE): SettingsFile | null {
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, "utf8")) as SettingsFile;
}

export function writeSettings(s: SettingsFile, file: URL | string = SETTINGS_FILE): void {
  writeFileSync(file, `${stringifyTo(s, 4, "")}\n`);
}

/** JSON indented down to `depth` levels and compact below (one line per knob set or trial). */
function stringifyTo(value: unknown, depth: number, indent: string): string {
  if (depth === 0 || value === null || typeof value !== "object") return JSON.stringify(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    const items = value.map((x) => inner + stringifyTo(x, depth - 1, inner));
    return `[\n${items.join(",\n")}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return "{}";
  const items = entries.map(
    ([k, x]) => `${inner}${JSON.stringify(k)}: ${stringifyTo(x, depth - 1, inner)}`,
  );
  return `{\n${items.join(",\n")}\n${indent}}`;
}

/** The knobs of `mode` in `scenario`: the file's when it has them, else the scheduler's defaults. */
export function knobsFor(file: SettingsFile | null, scenario: string, mode: DecodeMode): Knobs {
  if (mode === "plain") return {};
  return { ...untunedKnobs(mode), ...(file?.scenarios[scenario]?.[mode] ?? {}) };
}

/** The knobs as `pipemesh generate` flags (all but firstDraftMax, which has no flag). */
export function knobArgs(k: Knobs): string[] {
  const a: string[] = [];
  if (k.draftMax !== undefined) a.push("--draft-max", String(k.draftMax));
  if (k.draftBranches !== undefined) a.push("--draft-branches", String(k.draftBranches));
  if (k.pAccept !== undefined) a.push("--p-accept", String(k.pAccept));
  if (k.maxInFlightRuns !== undefined) a.push("--max-in-flight", String(k.maxInFlightRuns));
  if (k.governor !== undefined) a.push("--governor", k.governor ? "on" : "off");
  if (k.corrections !== undefined) a.push("--corrections", k.corrections ? "on" : "off");
  return a;
}

/** The scheduler's speculation options: the parsed flags, plus firstDraftMax when set. */
export function speculationFor(
  opts: GenerateOptions,
  firstDraftMax: number | undefined,
): Partial<SpeculationOptions> {
  return { ...speculationOf(opts), ...(firstDraftMax === undefined ? {} : { firstDraftMax }) };
}

/** "draftMax 4, draftBranches 3, pAccept 0.1" (plain: "-"). */
export function formatKnobs(k: Knobs): string {
  const parts = Object.entries(k).map(
    ([name, v]) => `${name} ${typeof v === "boolean" ? (v ? "on" : "off") : String(v)}`,
  );
  return parts.length === 0 ? "-" : parts.join(", ");
}
