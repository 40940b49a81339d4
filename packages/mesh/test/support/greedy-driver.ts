// A minimal head loop for transport tests (not the PipeInfer scheduler): prefill, then one canonical run per
// token (greedy), optionally launching a speculative "noise" run after each canonical one and cancelling it,
// so cancels, skip markers and KV ops travel the pipeline while the emitted tokens must stay exact.

import type { PipelinePort, RunOutcome } from "../../src/ports.ts";

export interface GreedyOptions {
  prompt: readonly number[];
  maxTokens: number;
  /** Launch + cancel a speculative run (seq 1) after every canonical run. */
  noise?: boolean;
  /** Called after each emitted token (tests kill peers mid-generation here). */
  onToken?: (token: number, index: number) => void;
  signal?: AbortSignal;
}

export interface GreedyResult {
  tokens: number[];
  skipped: number;
  outcomes: RunOutcome[];
}

export async function greedyGenerate(
  pipe: PipelinePort,
  options: GreedyOptions,
): Promise<GreedyResult> {
  const tokens: number[] = [];
  const outcomes: RunOutcome[] = [];
  const speculative = new Set<number>();
  let skipped = 0;
  let runId = 1;
  const n = options.prompt.length;
  pipe.launch({
    runId: runId++,
    kind: "prefill",
    tokens: Int32Array.from(options.prompt),
    positions: Int32Array.from(options.prompt, (_, i) => i),
    seqIds: options.prompt.map(() => [0]),
    outputRows: Int32Array.of(n - 1),
    topK: 4,
  });
  let pos = n;
  while (tokens.length < options.maxTokens) {
    const out = await pipe.next(options.signal);
    outcomes.push(out);
    if (out.status === "skipped") {
      skipped++;
      continue;
    }
    if (speculative.has(out.runId)) continue; // finished before the cancel reached it: ignored
    const token = out.outputs[0]?.argmax;
    if (token === undefined) throw new Error(`run ${out.runId} returned no outputs`);
    tokens.push(token);
    options.onToken?.(token, tokens.length - 1);
    if (tokens.length >= options.maxTokens) break;
    pipe.launch({
      runId: runId++,
      kind: "canonical",
      tokens: Int32Array.of(token),
      positions: Int32Array.of(pos),
      seqIds: [[0]],
      outputRows: Int32Array.of(0),
      topK: 4,
    });
    if (options.noise === true) {
      const id = runId++;
      speculative.add(id);
      pipe.launch({
        runId: id,
        kind: "speculative",
        tokens: Int32Array.of((token + 1) % 7, (token + 2) % 7),
        positions: Int32Array.of(pos + 1, pos + 2),
        seqIds: [[1], [1]],
        outputRows: Int32Array.of(0, 1),
        topK: 4,
      });
      pipe.cancel([id]);
      pipe.kv({ op: "seq_rm", seq: 1, p0: 0, p1: -1 });
    }
    pos++;
  }
  return { tokens, skipped, outcomes };
}
