// `pipemesh generate`: one generation from the command line. The CLI process is the head (tokenizer,
// draft model, scheduler); the layers run on --peers peers (one local worker, or N peer processes joined
// through a local signaling server). Streams text to stdout, or prints one JSON object with --json.

import { StreamDecoder } from "@pipemesh/engine";
import type { Head } from "@pipemesh/head";
import { GENERATE_USAGE, parseGenerateArgs, type GenerateOptions } from "../args.ts";
import { openCliHead } from "../head/cli-head.ts";
import { promptTokens } from "../head/prompt.ts";
import { buildResultJson } from "../head/result-json.ts";

export async function generateCommand(argv: readonly string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${GENERATE_USAGE}\n`);
    return 0;
  }
  const opts = parseGenerateArgs(argv);
  const abort = new AbortController();
  const onSigint = (): void => abort.abort();
  process.once("SIGINT", onSigint);
  let head: Head;
  try {
    head = await openCliHead(opts, {
      signal: abort.signal,
      log: (m) => process.stderr.write(`${m}\n`),
    });
  } catch (e) {
    process.off("SIGINT", onSigint);
    if (opts.json) writeErrorJson(e, []); // setting up failed: no tokens yet
    throw e;
  }
  try {
    return await runOnce(head, opts, abort.signal);
  } finally {
    process.off("SIGINT", onSigint);
    await head.destroy();
  }
}

async function runOnce(head: Head, opts: GenerateOptions, signal: AbortSignal): Promise<number> {
  const prompt = promptTokens(opts, head.tokenizer);
  const generation = head.generate({
    newTokens: prompt,
    maxTokens: opts.maxTokens,
    sampling: {
      temperature: opts.temperature,
      topK: opts.topK,
      topP: opts.topP,
      seed: opts.seed,
    },
    stopTokenIds: opts.ignoreEos ? [] : head.stopTokenIds,
    stop: opts.stop,
    signal,
  });
  const decoder = head.tokenizer === undefined ? undefined : new StreamDecoder(head.tokenizer);
  const stream = !opts.json && decoder !== undefined;
  let result;
  try {
    if (stream) {
      for await (const ev of generation) {
        for (const t of ev.tokens) process.stdout.write(decoder.push(t));
      }
    }
    result = await generation.result;
  } catch (e) {
    if (stream) process.stdout.write(`${decoder.flush()}\n`);
    reportPartial(e, opts.json);
    throw e;
  }
  if (stream) process.stdout.write(`${decoder.flush()}\n`);
  const json = buildResultJson(head, opts.backend, result);
  if (opts.json) process.stdout.write(`${JSON.stringify(json)}\n`);
  else process.stderr.write(`${summaryLine(json)}\n`);
  return 0;
}

function summaryLine(j: ReturnType<typeof buildResultJson>): string {
  const m = j.metrics;
  return (
    `[${j.mode}, ${j.peers} peer(s), ${j.backend}] ${j.tokens.length} tokens, ` +
    `${m.tokensPerSecond.toFixed(1)} tok/s, ttft ${m.ttftMs.toFixed(0)} ms, ` +
    `acceptance ${(m.acceptanceRate * 100).toFixed(0)} %`
  );
}

/** A failed generation still reports what it produced: tokens so far on stderr (and as JSON with --json). */
function reportPartial(e: unknown, json: boolean): void {
  const err = e as { code?: unknown; message?: unknown; details?: { tokens?: unknown } };
  const tokens = Array.isArray(err.details?.tokens) ? (err.details.tokens as number[]) : [];
  process.stderr.write(
    `\npipemesh: generation failed after ${tokens.length} tokens: ${tokens.join(",")}\n`,
  );
  if (json) writeErrorJson(e, tokens);
}

/** The last stdout line of a failed --json run: {error: {code, message}, tokens}. */
function writeErrorJson(e: unknown, tokens: number[]): void {
  const err = e as { code?: unknown };
  const code = typeof err.code === "string" ? err.code : "ERR_INTERNAL";
  const message = e instanceof Error ? e.message : String(e);
  process.stdout.write(`${JSON.stringify({ error: { code, message }, tokens })}\n`);
}
