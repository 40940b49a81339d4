// PipeInferScheduler: the head's public generation API over a PipelinePort and an optional Drafter, with an
// injected clock. Keeps the conversation's KV across generations (reuses the longest common prefix,
// prefills only the rest), runs one generation at a time, and cleans up in the background after each.
// The per-generation algorithm is in generation-loop.ts; the KV protocol is in README.md.

import { isMeshError, MeshError } from "../errors.ts";
import type { Drafter, PipelinePort } from "../ports.ts";
import {
  invalidOption,
  resolveConfig,
  type DecodeMode,
  type ResolvedConfig,
  type SchedulerConfig,
} from "./config.ts";
import { DraftCalibration } from "./calibration.ts";
import { EventQueue } from "./event-queue.ts";
import { SpeculationGovernor } from "./governor.ts";
import { GenerationLoop, type FinishReason, type TokenEvent } from "./generation-loop.ts";
import { CLEAR_OP, PartitionPool, truncateOp } from "./kv-protocol.ts";
import { MetricsRecorder, type GenerationMetrics } from "./metrics.ts";
import { resolveSampling, type SamplingOptions } from "./sampling.ts";
import { StopMatcher } from "./stop-matcher.ts";

export interface SchedulerPorts {
  pipeline: PipelinePort;
  /** The draft model at the head; without one only `plain` is possible. */
  drafter?: Drafter | null | undefined;
  /** Milliseconds, monotonic (default performance.now). Only used for metrics and event times. */
  clock?: { now(): number } | undefined;
  /** Detokenizer: needed for stop strings; with it events carry text deltas. */
  decode?: ((tokens: readonly number[]) => string) | undefined;
  /**
   * Replaces a pipeline that failed mid-generation (a stage lost, stuck or untrustworthy): resolves with
   * the new pipeline, whose stages hold no KV, or null when nothing can take over (the generation then
   * fails with the original error and the tokens so far). The scheduler replays the sequence into it and
   * goes on; later generations use it too. Absent: a failure ends the generation.
   */
  recover?: ((error: MeshError, signal: AbortSignal) => Promise<PipelinePort | null>) | undefined;
}

export interface GenerateRequest {
  /** Conversation tokens whose KV the stages hold from earlier turns (reused as far as they agree). */
  previousTokens?: ArrayLike<number> | undefined;
  /** This turn's new tokens (prefilled). previousTokens + newTokens must not be empty. */
  newTokens: ArrayLike<number>;
  /** Most tokens to generate (>= 1). */
  maxTokens: number;
  sampling?: SamplingOptions | undefined;
  /** Token ids that end the generation (EOS); the id itself is not returned. */
  stopTokenIds?: readonly number[] | undefined;
  /** Strings that end the generation; the text is cut right before the first one (needs `decode`). */
  stop?: readonly string[] | undefined;
  /** Stops the generation; the result then resolves with finishReason "abort" and the tokens so far. */
  signal?: AbortSignal | undefined;
}

export interface GenerationResult {
  /** Generated tokens (stop token ids excluded). */
  tokens: number[];
  /** Per token: a drafted token the target accepted. */
  fromDraft: boolean[];
  /** Decoded text truncated before any stop string (present with a decode port). */
  text?: string | undefined;
  finishReason: FinishReason;
  /** The stop token id (e.g. EOS) that ended the generation; not part of `tokens`. */
  stopTokenId?: number | undefined;
  mode: DecodeMode;
  /** The sampling seed used (reproduces the output at temperature > 0 with the same seed). */
  seed: number;
  metrics: GenerationMetrics;
}

/** Accepted-token events (for await ... of) plus the final result. */
export interface Generation extends AsyncIterable<TokenEvent> {
  readonly result: Promise<GenerationResult>;
}

const defaultClock = { now: (): number => performance.now() };

/**
 * Run ids are unique across every scheduler in this process, not per scheduler: a new scheduler on a
 * pipeline that an earlier one used (a new chat, another mode, the benchmark's next row) must not reuse an
 * id that stages still remember as cancelled, nor take a late outcome of the old scheduler's runs for one
 * of its own.
 */
let lastRunId = 0;

export class PipeInferScheduler {
  readonly config: ResolvedConfig;
  #pipeline: PipelinePort;
  readonly #recover: SchedulerPorts["recover"];
  readonly #drafter: Drafter | null;
  readonly #clock: { now(): number };
  readonly #decode: ((tokens: readonly number[]) => string) | undefined;
  readonly #calibration: DraftCalibration | null;
  readonly #governor: SpeculationGovernor | null;
  #pool: PartitionPool;
  #kvTokens: number[] = [];
  /** False after a failure: the stages' KV is unknown and the next generation clears it. */
  #kvValid = true;
  #busy = false;
  #idle: Promise<void> = Promise.resolve();
  #destroyed = false;
  #current: AbortController | null = null;
  #running: Promise<unknown> = Promise.resolve();

  /** Throws ERR_NO_DRAFT when speculative/pipeinfer is asked for without a drafter. */
  constructor(ports: SchedulerPorts, config: SchedulerConfig = {}) {
    this.#pipeline = ports.pipeline;
    this.#recover = ports.recover;
    this.#drafter = ports.drafter ?? null;
    this.#clock = ports.clock ?? defaultClock;
    this.#decode = ports.decode;
    this.config = resolveConfig(config, this.#drafter !== null);
    const s = this.config.speculation;
    this.#pool = new PartitionPool(s.maxPartitions, s.draftBranches);
    this.#calibration =
      s.calibrate && this.#drafter !== null && this.config.mode !== "plain"
        ? new DraftCalibration(s.calibrationPriorWeight)
        : null;
    this.#governor =
      s.governor && this.#drafter !== null && this.config.mode === "pipeinfer"
        ? new SpeculationGovernor()
        : null;
  }

  get mode(): DecodeMode {
    return this.config.mode;
  }

  /**
   * What the scheduler has learnt of its draft's confidence (null without a drafter, in plain mode, or with
   * calibration off). Kept across generations and reset(): it describes the model pair, not a conversation.
   */
  get calibration(): DraftCalibration | null {
    return this.#calibration;
  }

  /**
   * What the speculation governor has measured (pipeinfer with a drafter and `governor` on; else null).
   * Kept across generations: it describes the pipeline.
   */
  get governor(): SpeculationGovernor | null {
    return this.#governor;
  }

  /** Tokens whose KV the stages hold (as of the last finished cleanup). */
  get contextTokens(): readonly number[] {
    return this.#kvTokens;
  }

  /**
   * Starts a generation. Throws synchronously on invalid requests, ERR_ROOM_BUSY while another generation
   * runs, ERR_DESTROYED after destroy(). A pipeline failure rejects `result` (and the iterator) with the
   * pipeline's MeshError code and `details.tokens` = the tokens generated so far.
   */
  generate(request: GenerateRequest): Generation {
    this.#check();
    const context = [...Array.from(request.previousTokens ?? []), ...Array.from(request.newTokens)];
    if (context.length === 0) throw new MeshError("ERR_CONTEXT_LENGTH", "the context is empty");
    if (context.length >= this.config.maxContextTokens) {
      throw new MeshError(
        "ERR_CONTEXT_LENGTH",
        `context of ${context.length} tokens leaves no room in ${this.config.maxContextTokens}`,
      );
    }
    if (!Number.isInteger(request.maxTokens) || request.maxTokens < 1)
      throw invalidOption("maxTokens must be an integer >= 1");
    if ((request.stop?.length ?? 0) > 0 && this.#decode === undefined)
      throw invalidOption("stop strings need a decode port");
    const sampling = resolveSampling(request.sampling);
    const startMs = this.#clock.now();
    const abort = new AbortController();
    this.#current = abort;
    const signal =
      request.signal === undefined ? abort.signal : AbortSignal.any([request.signal, abort.signal]);
    this.#busy = true;
    const queue = new EventQueue<TokenEvent>();
    const result = this.#generate(request, context, sampling, signal, queue, startMs).finally(
      () => {
        this.#busy = false;
        if (this.#current === abort) this.#current = null;
      },
    );
    result.catch(() => {}); // the caller may only iterate; the iterator rethrows the same error
    this.#running = result.catch(() => {});
    return { result, [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator]() };
  }

  /** Drops KV positions >= length (e.g. to edit the conversation). Waits for cleanup of the last generation. */
  async truncate(length: number): Promise<void> {
    this.#check();
    await this.#idle;
    if (length < this.#kvTokens.length) {
      this.#pipeline.kv(truncateOp(length));
      this.#kvTokens = this.#kvTokens.slice(0, length);
    }
  }

  /** Forgets the conversation: clears every stage's KV and the drafter's cache. */
  async reset(): Promise<void> {
    this.#check();
    await this.#idle;
    this.#pipeline.kv(CLEAR_OP);
    this.#kvTokens = [];
    this.#kvValid = true;
    await this.#drafter?.reset();
  }

  /** Resolves when the last generation's cleanup (cancels, outstanding outcomes) is done. */
  whenIdle(): Promise<void> {
    return this.#idle;
  }

  /** Idempotent: aborts a running generation; afterwards every method throws ERR_DESTROYED. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#current?.abort();
    await this.#running;
    await this.#idle;
  }

  #check(): void {
    if (this.#destroyed) throw new MeshError("ERR_DESTROYED", "the scheduler was destroyed");
    if (this.#busy)
      throw new MeshError("ERR_ROOM_BUSY", "a generation is already running on this scheduler");
  }

  async #generate(
    request: GenerateRequest,
    context: number[],
    sampling: ReturnType<typeof resolveSampling>,
    signal: AbortSignal,
    queue: EventQueue<TokenEvent>,
    startMs: number,
  ): Promise<GenerationResult> {
    await this.#idle;
    const pipeline = this.#pipeline;
    const current = (): PipelinePort => this.#pipeline;
    const recover = this.#recover;
    if (!this.#kvValid) {
      pipeline.kv(CLEAR_OP);
      this.#kvTokens = [];
      this.#kvValid = true;
    }
    // Reuse the longest common prefix; at least the last context token is run again for its logits.
    let lcp = 0;
    while (
      lcp < this.#kvTokens.length &&
      lcp < context.length &&
      this.#kvTokens[lcp] === context[lcp]
    )
      lcp++;
    lcp = Math.min(lcp, context.length - 1);
    if (lcp < this.#kvTokens.length) pipeline.kv(truncateOp(lcp));
    this.#kvTokens = context.slice(0, lcp);
    if (this.#drafter !== null && this.config.mode !== "plain")
      await this.#drafter.accept(Int32Array.from(context));
    const metrics = new MetricsRecorder(this.config.mode, startMs);
    metrics.promptTokens = context.length;
    metrics.reusedTokens = lcp;
    const stop = new StopMatcher({
      stopTokenIds: request.stopTokenIds,
      stopStrings: request.stop,
      decode: this.#decode,
    });
    const minRunId = lastRunId + 1;
    const loop = new GenerationLoop({
      ports: {
        // Always the current pipeline: a recovery swaps it under the loop.
        pipeline: {
          launch: (r) => current().launch(r),
          kv: (op) => current().kv(op),
          cancel: (ids) => current().cancel(ids),
          hasOutcome: () => current().hasOutcome(),
          next: (s) => nextOwnOutcome(current(), minRunId, s),
        },
        drafter: this.#drafter,
        clock: this.#clock,
        recover:
          recover === undefined
            ? undefined
            : async (error) => {
                const next = await recover(error, signal);
                if (next === null) return false;
                this.#pipeline = next;
                return true;
              },
      },
      shared: {
        config: this.config,
        pool: this.#pool,
        calibration: this.#calibration,
        governor: this.#governor,
        nextRunId: () => ++lastRunId,
      },
      request: {
        context,
        prefillFrom: lcp,
        maxTokens: request.maxTokens,
        sampling,
        stop,
        signal,
        emit: (e) => queue.push(e),
      },
      metrics,
    });
    try {
      await loop.run();
    } catch (e) {
      // The stages' KV and the port's outstanding runs are unknown now: clear on the next generation
      // (older outcomes are skipped by run id) and start from fresh partitions.
      this.#kvValid = false;
      this.#kvTokens = [];
      this.#pool = new PartitionPool(
        this.config.speculation.maxPartitions,
        this.config.speculation.draftBranches,
      );
      const err = new MeshError(
        isMeshError(e) ? e.code : "ERR_INTERNAL",
        `generation failed after ${stop.tokens.length} tokens: ${e instanceof Error ? e.message : String(e)}`,
        {
          cause: e,
          details: { tokens: [...stop.tokens], text: stop.text, mode: this.config.mode },
        },
      );
      queue.fail(err);
      throw err;
    }
    if (loop.finish === "abort") {
      const text = stop.finish();
      if (text.length > 0)
        queue.push({
          tokens: [],
          fromDraft: [],
          index: stop.tokens.length,
          timeMs: this.#clock.now(),
          text,
        });
    }
    const result: GenerationResult = {
      tokens: [...stop.tokens],
      fromDraft: loop.fromDraft.slice(0, stop.tokens.length),
      ...(stop.text === undefined ? {} : { text: stop.text }),
      finishReason: loop.finish ?? "abort",
      ...(stop.stopTokenId === undefined ? {} : { stopTokenId: stop.stopTokenId }),
      mode: this.config.mode,
      seed: sampling.seed,
      metrics: metrics.compute(stop.tokens.length),
    };
    queue.end();
    this.#idle = loop.drain().then(
      () => {
        this.#kvTokens = loop.tokens.slice(0, loop.canonicalEnd);
      },
      () => {
        this.#kvValid = false;
        this.#kvTokens = [];
      },
    );
    return result;
  }
}

/** next() that silently drops outcomes of runs launched by an earlier, failed generation. */
async function nextOwnOutcome(
  pipeline: PipelinePort,
  minRunId: number,
  signal: AbortSignal | undefined,
): ReturnType<PipelinePort["next"]> {
  for (;;) {
    const outcome = await pipeline.next(signal);
    if (outcome.runId >= minRunId) return outcome;
  }
}
