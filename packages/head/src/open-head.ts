// openHead: the one composition root of a head (the CLI's generate, `pipemesh serve`'s API, a chat tab).
// It owns the model's metadata (config, tokenizer, stop ids), the draft model, KV sizing and sequence ids,
// the PipeInfer scheduler and the pipeline's lifecycle, behind one destroy(). Where the layers run comes
// in as `pipeline` (a local worker, peer processes, a room); platform differences as `platform`.
// Generations run one at a time, in arrival order. Not an HTTP server and not a pipeline opener.

import {
  loadGenerationEosIds,
  loadModelConfig,
  loadTokenizer,
  type DrafterKind,
  type ModelConfig,
  type TextTokenizer,
} from "@pipemesh/engine";
import {
  EventQueue,
  isMeshError,
  PipeInferScheduler,
  type MeshError,
  resolveConfig,
  type DecodeMode,
  type Generation,
  type GenerateRequest,
  type GenerationResult,
  type PipelinePort,
  type TokenEvent,
} from "@pipemesh/mesh";
import { openDrafter, type OpenedDrafter } from "./drafter.ts";
import { HeadError, isHeadError } from "./errors.ts";
import { FifoLock } from "./fifo-lock.ts";
import { kvSizing, seqIdsFor, SPECULATIVE_CELLS, type KvSizing } from "./kv-sizing.ts";
import { chatCompletions, type ChatCompletions } from "./openai/chat-completions.ts";
import { textCompletions, type TextCompletions } from "./openai/completions.ts";
import type { HeadPlatform } from "./platform.ts";

/** One stage of the pipeline a head runs on, as a generation reports it. */
export interface PlanEntry {
  peerId: string;
  layerStart: number;
  /** Exclusive. */
  layerEnd: number;
  /** Bytes of the weight buffers the stage holds on its device (no KV, activations or scratch). */
  weightBytes: number | null;
  /** Bytes of the stage's KV cache. */
  kvBytes: number | null;
}

export interface PipelineSetup {
  config: ModelConfig;
  kvCells: number;
  maxSeqs: number;
  signal: AbortSignal;
}

export interface OpenedPipeline {
  /** The pipeline (after a recovery: the replacement). */
  readonly pipeline: PipelinePort;
  /** Its stages (after a recovery: the replacement's). */
  readonly plan: PlanEntry[];
  destroy(): Promise<void>;
  /**
   * Replaces the pipeline after it failed mid-generation (a stage lost, stuck or untrustworthy): resolves
   * with the replacement, whose stages hold no KV, or null when nothing can take over. Absent: a failure
   * ends the generation (a pipeline in this process has nothing to fail over to).
   */
  recover?(
    error: MeshError,
    signal: AbortSignal,
  ): Promise<{ pipeline: PipelinePort; plan: PlanEntry[] } | null>;
}

/** Opens the pipeline the head's generations run on (called again after a pipeline failed). */
export type PipelineOpener = (setup: PipelineSetup) => Promise<OpenedPipeline>;

export interface OpenHeadOptions {
  /** The target model's location (a path, a URL) as the platform opens it. */
  target: string;
  /** The draft model's location; undefined: none (plain decoding). */
  draft?: string | undefined;
  /** Force a drafter kind; undefined: auto with fallback to the engine drafter. */
  drafterKind?: DrafterKind | undefined;
  pipeline: PipelineOpener;
  /** Undefined: the scheduler's default for the drafter (pipeinfer with one, plain without). */
  mode?: DecodeMode | undefined;
  platform: HeadPlatform;
  /** Scheduler speculation settings (undefined fields: defaults). */
  speculation?: Record<string, number | boolean | undefined> | undefined;
  /** The room's (or --ctx) context length; undefined: the model's, capped. */
  contextLength?: number | undefined;
  /** Cap on the context when none is named. */
  contextCap?: number | undefined;
  /** KV cells per stage, overriding the sizing (benchmarks). */
  kvCells?: number | undefined;
  /**
   * Recover from a failed pipeline mid-generation when the opener can replace it (default true). False:
   * a lost stage ends the generation with ERR_PEER_LOST and the tokens so far.
   */
  recovery?: boolean | undefined;
  /** Open without a tokenizer when the model has none (token-id prompts only). */
  tokenizerOptional?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

export interface Head {
  readonly config: ModelConfig;
  readonly tokenizer: TextTokenizer | undefined;
  readonly stopTokenIds: readonly number[];
  readonly drafterName: string | null;
  readonly drafterFallbackReason: string | undefined;
  readonly kv: KvSizing;
  /** Longest context a generation may reach: the stages' capped by the draft model. */
  readonly maxContextTokens: number;
  /** The current pipeline's stages (empty until connected). */
  readonly plan: readonly PlanEntry[];
  /** Generations waiting for the running one. */
  readonly queueLength: number;
  readonly chat: { completions: ChatCompletions };
  readonly completions: TextCompletions;
  /** Opens the pipeline now (generate() opens it when needed). */
  connect(signal?: AbortSignal): Promise<void>;
  /** The decoding mode of the next generations (undefined: the scheduler's default). */
  readonly mode: DecodeMode | undefined;
  /**
   * Switches the decoding mode: the pipeline is closed once the generations before this call are done (a
   * scheduler owns its pipeline's run ids) and reopened by the next. ERR_NO_DRAFT without a draft model.
   */
  setMode(mode: DecodeMode | undefined): Promise<void>;
  /** Closes the pipeline once the generations before this call are done (the next one reopens it). */
  disconnect(): Promise<void>;
  /** Queues a generation; events and result as the scheduler's. */
  generate(request: GenerateRequest): Generation;
  /** Calls `listener` with every finished generation's result (metrics); returns the unsubscribe. */
  observe(listener: (result: GenerationResult) => void): () => void;
  /** Drops cached context at positions >= length on every stage. */
  truncate(length: number): Promise<void>;
  /** Forgets the conversation: every stage's KV and the drafter's cache. */
  reset(): Promise<void>;
  /** Aborts what runs, closes the pipeline and frees the draft model. Idempotent. */
  destroy(): Promise<void>;
}

/** Errors after which the pipeline is kept: the request was at fault, or it was cancelled. */
function keepsPipeline(e: unknown): boolean {
  return isHeadError(e) || isMeshError(e, "ERR_ABORTED") || isMeshError(e, "ERR_CONTEXT_LENGTH");
}

export async function openHead(o: OpenHeadOptions): Promise<Head> {
  const abortAll = new AbortController();
  const signal =
    o.signal === undefined ? abortAll.signal : AbortSignal.any([o.signal, abortAll.signal]);
  const dir = o.platform.openModelDir(o.target);
  const config = await loadModelConfig(dir, signal);
  const tokenizer = await loadTokenizer(dir, signal).catch((e: unknown) => {
    if (o.tokenizerOptional === true) return undefined;
    throw e;
  });
  const stop = new Set([...config.eosTokenIds, ...(await loadGenerationEosIds(dir, signal))]);
  if (tokenizer?.eosTokenId !== undefined) stop.add(tokenizer.eosTokenId);

  const wantsDraft = o.mode !== "plain" && o.draft !== undefined;
  const drafter: OpenedDrafter | null = wantsDraft
    ? await openDrafter({
        platform: o.platform,
        target: o.target,
        draft: o.draft ?? "",
        kind: o.drafterKind,
        signal,
      })
    : null;
  const speculation = o.speculation ?? {};
  let mode = o.mode;
  const schedulerConfig = { mode, speculation };
  try {
    resolveConfig(schedulerConfig, drafter !== null); // ERR_NO_DRAFT, bad settings: before any pipeline
  } catch (e) {
    await drafter?.drafter.destroy();
    throw e;
  }
  const sized = kvSizing(config, o.contextLength, o.contextCap);
  const resolved = resolveConfig(schedulerConfig, drafter !== null);
  const kvCells = o.kvCells ?? sized.kvCells;
  const kv: KvSizing = {
    kvCells,
    maxSeqs: seqIdsFor(resolved.speculation),
    contextTokens: Math.min(sized.contextTokens, kvCells - SPECULATIVE_CELLS),
  };
  const maxContextTokens = Math.min(kv.contextTokens, drafter?.maxPositions ?? Infinity);

  const lock = new FifoLock();
  const listeners = new Set<(result: GenerationResult) => void>();
  let open: { pipe: OpenedPipeline; scheduler: PipeInferScheduler } | null = null;
  let opening: Promise<{ pipe: OpenedPipeline; scheduler: PipeInferScheduler }> | null = null;
  let destroyed = false;

  const connect = (
    s?: AbortSignal,
  ): Promise<{ pipe: OpenedPipeline; scheduler: PipeInferScheduler }> => {
    if (destroyed)
      return Promise.reject(new HeadError("ERR_HEAD_DESTROYED", "the head is destroyed"));
    if (open !== null) return Promise.resolve(open);
    opening ??= (async () => {
      const sig = s === undefined ? signal : AbortSignal.any([s, signal]);
      const pipe = await o.pipeline({
        config,
        kvCells: kv.kvCells,
        maxSeqs: kv.maxSeqs,
        signal: sig,
      });
      const recover = o.recovery === false ? undefined : pipe.recover?.bind(pipe);
      const scheduler = new PipeInferScheduler(
        {
          pipeline: pipe.pipeline,
          drafter: drafter?.drafter ?? null,
          ...(tokenizer === undefined ? {} : { decode: (ids) => tokenizer.decode(ids) }),
          ...(recover === undefined
            ? {}
            : {
                recover: async (error: MeshError, s: AbortSignal) =>
                  (await recover(error, s))?.pipeline ?? null,
              }),
        },
        { mode, speculation, maxContextTokens, maxSeqIds: kv.maxSeqs },
      );
      open = { pipe, scheduler };
      return open;
    })().finally(() => {
      opening = null;
    });
    return opening;
  };

  const dropPipeline = async (): Promise<void> => {
    const held = open;
    open = null;
    if (held === null) return;
    await held.scheduler.destroy().catch(() => undefined);
    await held.pipe.destroy().catch(() => undefined);
  };

  const generate = (request: GenerateRequest): Generation => {
    const events = new EventQueue<TokenEvent>();
    const result = lock.run(async (): Promise<GenerationResult> => {
      const { scheduler } = await connect(request.signal);
      try {
        const g = scheduler.generate(request);
        for await (const ev of g) events.push(ev);
        const r = await g.result;
        for (const l of listeners) l(r);
        return r;
      } catch (e) {
        if (!keepsPipeline(e)) await dropPipeline();
        throw e;
      }
    }, request.signal);
    result.then(
      () => events.end(),
      (e: unknown) => events.fail(e),
    );
    result.catch(() => {}); // the caller may only iterate; the iterator rethrows the same error
    return { result, [Symbol.asyncIterator]: () => events[Symbol.asyncIterator]() };
  };

  const head: Head = {
    config,
    tokenizer,
    stopTokenIds: [...stop],
    drafterName: drafter?.name ?? null,
    drafterFallbackReason: drafter?.fallbackReason,
    kv,
    maxContextTokens,
    get plan() {
      return open?.pipe.plan ?? [];
    },
    get queueLength() {
      return lock.waiting;
    },
    chat: { completions: chatCompletions(() => head) },
    completions: textCompletions(() => head),
    connect: async (s) => {
      await connect(s);
    },
    get mode() {
      return mode;
    },
    setMode: async (next) => {
      if (next === mode) return;
      resolveConfig({ mode: next, speculation }, drafter !== null);
      mode = next;
      await lock.run(dropPipeline);
    },
    disconnect: () => lock.run(dropPipeline),
    generate,
    observe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    truncate: (length) => lock.run(async () => open?.scheduler.truncate(length)),
    reset: () => lock.run(async () => open?.scheduler.reset()),
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      abortAll.abort();
      await opening?.catch(() => undefined);
      await dropPipeline();
      await drafter?.drafter.destroy().catch(() => undefined);
    },
  };
  return head;
}
