// ChatController: the chat tab as the room's head, opened by @pipemesh/head/browser's openRoomHead (the
// path its in-page client connect() takes too: model metadata, draft model, KV sizing, scheduler). Its pipeline is the room's generation slot (asked for on the first message,
// waiting in the queue) kept between turns, so a follow-up only prefills its new tokens; streams accepted
// tokens (drafted ones marked) and records every run for the pipeline view. The slot is given back when
// someone else queues, after a failure, when the mode changes and on destroy(). No DOM here.

import { StreamDecoder, type TextTokenizer } from "@pipemesh/engine";
import { isHeadError, roomPipeline, type Head, type OpenedPipeline } from "@pipemesh/head";
import { openRoomHead } from "@pipemesh/head/browser";
import {
  isMeshError,
  MeshError,
  type DecodeMode,
  type FinishReason,
  type GenerationMetrics,
  type HeadSession,
  type PipelinePlan,
  type RoomState,
} from "@pipemesh/mesh";
import { AppError } from "../errors.ts";
import { RecordingPipeline, RunLog } from "../pipeline-view/run-log.ts";
import { hasUnplannedContributor } from "../room/member-status.ts";
import type { RoomClient } from "../room/room-client.ts";
import { Conversation, type TurnTokens } from "./conversation.ts";
import "./in-page-client.ts";

export interface ReplySettings {
  mode: DecodeMode;
  /** 0 is greedy. */
  temperature: number;
  maxTokens: number;
}

export interface ReplyPiece {
  text: string;
  /** A drafted token the target accepted. */
  fromDraft: boolean;
}

export interface ReplyResult {
  tokens: number[];
  fromDraft: boolean[];
  /** The stop token (EOS) that ended the reply, if one did. */
  stopTokenId: number | undefined;
  finishReason: FinishReason | "error";
  metrics: GenerationMetrics | null;
  /** The failure (coded) when finishReason is "error". */
  error: unknown;
  /** The conversation no longer fits the context: start over. */
  contextFull: boolean;
}

export interface ChatEvents {
  /** What the head is doing ("waiting for contributors", "connecting", ...); "" when generating. */
  onStatus(text: string): void;
  /** The reply so far: text pieces (drafted ones marked) and the accepted token ids. */
  onReply(pieces: readonly ReplyPiece[], tokenIds: readonly number[]): void;
}

export interface PreparedChat {
  head: Head;
  tokenizer: TextTokenizer;
  /** The draft model the head runs, and why it is a fallback if it is one; null without one. */
  drafter: { name: string; fallbackReason: string | undefined } | null;
  /** Longest conversation (tokens) the head runs: the stages' context capped by the draft model. */
  maxContextTokens: number;
}

export class ChatController {
  readonly log = new RunLog();
  readonly #room: RoomClient;
  readonly #offRoom: () => void;
  readonly #abortAll = new AbortController();
  #prepared: Promise<PreparedChat> | null = null;
  #conversation: Conversation | null = null;
  #session: { session: HeadSession; pipeline: RecordingPipeline } | null = null;
  #events: ChatEvents | null = null;
  #reply: AbortController | null = null;
  #destroyed = false;

  constructor(room: RoomClient) {
    this.#room = room;
    this.#offRoom = room.on((e) => {
      if (e.type === "state") this.#onState(e.state);
    });
  }

  get generating(): boolean {
    return this.#reply !== null;
  }

  get conversation(): Conversation | null {
    return this.#conversation;
  }

  /** Opens the head: tokenizer, stop ids and the draft model (once). */
  prepare(onStatus: (text: string) => void = () => {}): Promise<PreparedChat> {
    this.#prepared ??= (async () => {
      const signal = this.#abortAll.signal;
      const source = await this.#room.model(undefined, signal);
      const app = this.#room.app;
      onStatus("loading the tokenizer and the draft model…");
      const head = await openRoomHead({
        source,
        drafterKind: app.drafterKind === "auto" ? undefined : app.drafterKind,
        draftProvider: app.draftProvider,
        contextCap: app.maxContextTokens,
        signal,
        pipeline: (setup) => this.#acquire(setup.signal),
      }).catch((e: unknown) => {
        if (isHeadError(e, "ERR_MODEL_LOAD"))
          throw new AppError("ERR_MODEL_LOAD", e.message, { cause: e });
        throw e;
      });
      const tokenizer = head.tokenizer;
      if (tokenizer === undefined) throw new MeshError("ERR_INTERNAL", "no tokenizer");
      this.#conversation = new Conversation(tokenizer);
      onStatus("");
      return {
        head,
        tokenizer,
        drafter:
          head.drafterName === null
            ? null
            : { name: head.drafterName, fallbackReason: head.drafterFallbackReason },
        maxContextTokens: head.maxContextTokens,
      };
    })();
    this.#prepared.catch(() => {
      this.#prepared = null;
    });
    return this.#prepared;
  }

  /** Sends a user message and streams the reply. Never rejects: failures come back as finishReason "error". */
  async send(text: string, settings: ReplySettings, events: ChatEvents): Promise<ReplyResult> {
    if (this.#reply !== null) throw new MeshError("ERR_ROOM_BUSY", "a reply is already running");
    const reply = new AbortController();
    this.#reply = reply;
    const signal = AbortSignal.any([reply.signal, this.#abortAll.signal]);
    const pieces: ReplyPiece[] = [];
    const tokens: number[] = [];
    const fromDraft: boolean[] = [];
    let turn: TurnTokens | null = null;
    let prepared: PreparedChat | null = null;
    try {
      prepared = await this.prepare((t) => events.onStatus(t));
      const conversation = this.#conversation;
      if (conversation === null) throw new MeshError("ERR_INTERNAL", "no conversation");
      turn = conversation.nextTurn(text);
      const contextTokens = turn.previousTokens.length + turn.newTokens.length;
      if (contextTokens >= prepared.maxContextTokens) {
        throw new MeshError(
          "ERR_CONTEXT_LENGTH",
          `the conversation (${contextTokens} tokens) has reached the context length ` +
            `(${prepared.maxContextTokens}); start over`,
        );
      }
      const head = prepared.head;
      await this.#ensurePipeline(head, settings.mode, signal, events);
      events.onStatus("");
      this.log.beginReply();
      const decoder = new StreamDecoder(prepared.tokenizer, {
        contextIds: [...turn.previousTokens, ...turn.newTokens],
      });
      const generation = head.generate({
        previousTokens: turn.previousTokens,
        newTokens: turn.newTokens,
        maxTokens: settings.maxTokens,
        sampling: { temperature: settings.temperature },
        stopTokenIds: head.stopTokenIds,
        signal,
      });
      for await (const ev of generation) {
        ev.tokens.forEach((t, i) => {
          tokens.push(t);
          fromDraft.push(ev.fromDraft[i] ?? false);
          const delta = decoder.push(t);
          if (delta !== "") pieces.push({ text: delta, fromDraft: ev.fromDraft[i] ?? false });
        });
        events.onReply(pieces, tokens);
      }
      const result = await generation.result;
      const tail = decoder.flush();
      if (tail !== "") pieces.push({ text: tail, fromDraft: false });
      events.onReply(pieces, result.tokens);
      conversation.commit(text, turn, result.tokens, result.stopTokenId);
      const contextFull =
        result.finishReason === "length" && result.tokens.length < settings.maxTokens;
      return {
        tokens: result.tokens,
        fromDraft: result.fromDraft,
        stopTokenId: result.stopTokenId,
        finishReason: result.finishReason,
        metrics: result.metrics,
        error: contextFull
          ? new MeshError(
              "ERR_CONTEXT_LENGTH",
              `the conversation filled the context (${prepared.maxContextTokens} tokens); start over`,
            )
          : null,
        contextFull,
      };
    } catch (e) {
      // The pipeline failed (a peer left, a stage failed) or we never got one: give the slot back so the
      // room re-plans; the next message asks again. Keep what was generated in the conversation.
      const aborted = signal.aborted && isMeshError(e, "ERR_ABORTED");
      const contextFull = isMeshError(e, "ERR_CONTEXT_LENGTH");
      if (!aborted && !contextFull) this.#releaseSession();
      if (turn !== null && tokens.length > 0)
        this.#conversation?.commit(text, turn, tokens, undefined);
      events.onStatus("");
      return {
        tokens,
        fromDraft,
        stopTokenId: undefined,
        finishReason: aborted ? "abort" : "error",
        metrics: null,
        error: aborted ? null : e,
        contextFull,
      };
    } finally {
      this.#reply = null;
      if (this.#shouldYield(this.#room.state)) this.#releaseSession();
    }
  }

  /** Stops the running reply (its tokens so far are kept). */
  stop(): void {
    this.#reply?.abort();
  }

  /** Forgets the conversation; the stages' KV is cleared too. */
  async startOver(): Promise<void> {
    this.stop();
    this.#conversation?.reset();
    const prepared = await this.#prepared?.catch(() => null);
    if (prepared !== null && prepared !== undefined && this.#session !== null) {
      try {
        await prepared.head.reset();
      } catch {
        this.#releaseSession(); // the pipeline is gone: the next message starts a fresh one
      }
    }
  }

  /** Gives the slot back and frees the draft model. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#abortAll.abort();
    this.#offRoom();
    void this.#prepared?.then((p) => p.head.destroy()).catch(() => undefined);
  }

  /** The mode asked for, and a pipeline that has not failed while it sat idle between turns. */
  async #ensurePipeline(
    head: Head,
    mode: DecodeMode,
    signal: AbortSignal,
    events: ChatEvents,
  ): Promise<void> {
    this.#events = events;
    await head.setMode(mode);
    // Nothing is outstanding between turns, so a pipeline that has an "outcome" has failed while we held
    // it idle (a link timed out): give it back and start on a fresh one.
    if (this.#session?.pipeline.hasOutcome() === true) this.#releaseSession();
    await head.connect(signal);
  }

  /** The head's pipeline: the room's generation slot, recorded for the pipeline view. */
  async #acquire(signal: AbortSignal): Promise<OpenedPipeline> {
    this.#events?.onStatus("asking the room for the pipeline…");
    const session = await this.#room.head.acquire({ signal, timeoutMs: 60 * 60_000 });
    // A stage lost mid-reply: the room plans it out and the reply goes on on the replacement.
    return roomPipeline(this.#room.head, session, {
      wrap: (s) => {
        const pipeline = new RecordingPipeline(s.pipeline, this.log);
        this.#session = { session: s, pipeline };
        this.log.reset(stageLabels(s.plan, this.#room.state, this.#room.peerId));
        return pipeline;
      },
      onFailure: (e) =>
        this.#events?.onStatus(`a contributor failed (${e.code}); moving its layers…`),
      onRecovered: () => this.#events?.onStatus("recovered; continuing the reply"),
      release: (s) => {
        if (this.#session?.session === s) this.#session = null;
        s.release();
      },
    });
  }

  /** Gives the slot back now (the head reopens a pipeline for the next message). */
  #releaseSession(): void {
    const held = this.#session;
    this.#session = null;
    held?.session.release();
    void this.#prepared?.then((p) => p.head.disconnect()).catch(() => undefined);
  }

  #onState(state: RoomState): void {
    if (this.#reply === null && this.#session !== null && this.#shouldYield(state))
      this.#releaseSession();
  }

  /**
   * Between replies, give the slot back (our KV goes with it) when someone else waits for it, or when a
   * contributor joined that the frozen plan leaves out (the room re-plans to include it).
   */
  #shouldYield(state: RoomState): boolean {
    return state.queue.some((id) => id !== this.#room.peerId) || hasUnplannedContributor(state);
  }
}

/** Lane labels in pipeline order: this tab's embeddings, then each stage's peer name and layers. */
export function stageLabels(plan: PipelinePlan, state: RoomState, selfId: string): string[] {
  return plan.stages.map((s, i) => {
    const name =
      s.peerId === selfId
        ? "you"
        : (state.members.find((m) => m.peerId === s.peerId)?.caps.name ?? s.peerId.slice(0, 6));
    const layers = s.layerEnd > s.layerStart ? ` ${s.layerStart}–${s.layerEnd}` : "";
    return i === 0 ? `${name} (embed${layers})` : `${name}${layers}`;
  });
}
