// A remote stage's session: takes run / kv / skip messages from the upstream link in order and feeds them to
// a StageCore, takes cancels from the head's link (out of band), forwards activations, KV ops and skip markers
// downstream, and, as the tail, returns compact results to the head. Any lost link ends the session (the
// head hears ERR_PEER_LOST); it never decides anything about runs. The input queue is bounded in items and
// bytes, and the upstream link grants run credit inside those bounds (a run window: runs, and wire body
// bytes at most half the byte bound, since an f16 body decodes to twice its size), releasing each run's
// credit when it leaves the queue: a sender that speaks credit waits for this stage instead of being
// refused. One that does not (or ignores it) and passes the bound is refused with ERR_QUEUE_FULL and the
// session ends.

import { MeshError } from "../errors.ts";
import type { StageRunner } from "../ports.ts";
import type { Unversioned, WireDtype } from "../protocol/messages.ts";
import type { Clock } from "../transport/clock.ts";
import type { Link, LinkMessage } from "../transport/link.ts";
import { failureCode } from "./finite.ts";
import { StageCore, type StageSink } from "./stage-core.ts";
import { decodeRun, encodeResult, encodeRun } from "./wire.ts";

export interface StageServerOptions {
  runner: StageRunner;
  /** Where runs come from: the previous stage, or the head for stage 1. */
  upstream: Link;
  /** Where activations go; null for the tail (results go to `head`). */
  downstream: Link | null;
  /** The head: cancels come from it, errors (and the tail's results) go to it. */
  head: Link;
  /** Wire dtype for activations sent downstream (f32 keeps results exact). */
  activationDtype?: WireDtype;
  /** Wire dtype for logits rows the tail returns. */
  logitsDtype?: WireDtype;
  clock?: Clock;
  /** Runs, KV ops and skip markers waiting for compute (default 256). */
  maxQueuedItems?: number;
  /** Activation bytes waiting for compute (default 128 MiB). */
  maxQueuedBytes?: number;
  /** Runs the upstream may send beyond those finished (default min(32, maxQueuedItems / 4), at least 1). */
  runWindow?: number;
  /** The session ended (a link failed or destroy()); called once. */
  onClose?: (error: MeshError | null) => void;
}

export class StageServer {
  readonly #upstream: Link;
  readonly #downstream: Link | null;
  readonly #head: Link;
  readonly #core: StageCore;
  readonly #onClose: ((error: MeshError | null) => void) | undefined;
  readonly #maxQueuedItems: number;
  readonly #maxQueuedBytes: number;
  /**
   * Each queued run and skip marker, in arrival (= processing) order: its decoded activation bytes, and a
   * run's wire body bytes (its credit on the upstream link; null for a skip).
   */
  readonly #queued: { bytes: number; wire: number | null }[] = [];
  #queuedTotal = 0;
  #closed = false;

  constructor(options: StageServerOptions) {
    const { upstream, downstream, head } = options;
    this.#upstream = upstream;
    this.#downstream = downstream;
    this.#head = head;
    this.#onClose = options.onClose;
    this.#maxQueuedItems = options.maxQueuedItems ?? 256;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? 128 * 1024 * 1024;
    const runs =
      options.runWindow ?? Math.max(1, Math.min(32, Math.floor(this.#maxQueuedItems / 4)));
    // Before listen(): every run this stage server is handed holds credit until it leaves the queue.
    upstream.holdRuns({ runs, bytes: Math.max(1, Math.floor(this.#maxQueuedBytes / 2)) });
    const activationDtype = options.activationDtype ?? "f32";
    const logitsDtype = options.logitsDtype ?? "f32";
    const sink: StageSink = {
      run: async (header, result) => {
        this.#dequeued();
        if (downstream === null) {
          const { msg, body } = encodeResult(
            header.runId,
            header.stageComputeMs,
            result.outputs ?? [],
            logitsDtype,
            header.stageTimesMs,
          );
          head.send(msg, body);
          await head.whenWritable();
          return;
        }
        if (result.hidden === undefined)
          throw new MeshError("ERR_STAGE_FAILED", `no hidden states for run ${header.runId}`);
        const { msg, body } = encodeRun(header, result.hidden, activationDtype);
        downstream.send(msg, body);
        await downstream.whenWritable();
      },
      kv: (op) => {
        downstream?.send({ type: "kv", op });
      },
      skip: (runId, stageComputeMs, stageTimesMs) => {
        this.#dequeued();
        (downstream ?? head).send({
          type: "skip",
          runId,
          stageComputeMs,
          ...(stageTimesMs === undefined ? {} : { stageTimesMs }),
        });
      },
      failed: (runId, error) => {
        if (
          error instanceof MeshError &&
          (error.code === "ERR_PEER_DESTROYED" || error.code === "ERR_PEER_LOST")
        ) {
          return; // a link went away: its close handler ends the session
        }
        const message = `stage ${head.localId}${runId === null ? "" : ` run ${runId}`}: ${error instanceof Error ? error.message : String(error)}`;
        this.#tell({
          type: "error",
          code: failureCode(error),
          message,
          ...(runId === null ? {} : { runId }),
        });
      },
    };
    this.#core = new StageCore({
      runner: options.runner,
      sink,
      name: `stage ${head.localId}`,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    for (const link of new Set([upstream, head, ...(downstream === null ? [] : [downstream])])) {
      link.listen({
        message: (msg, body) => this.#onMessage(link, msg, body),
        close: (error) => this.#lost(link, error),
        rejected: (error) => this.#invalid(link, error),
      });
    }
  }

  get stats(): StageCore["stats"] & { queuedBytes: number } {
    return { ...this.#core.stats, queuedBytes: this.#queuedTotal };
  }

  /** Ends the session: stops the loop and closes every link politely. Idempotent. */
  destroy(): void {
    this.#end(null);
  }

  #onMessage(link: Link, msg: LinkMessage, body: Uint8Array): void {
    if (this.#closed) return;
    if (link === this.#head && msg.type === "cancel") {
      this.#core.cancel(msg.runIds);
      return;
    }
    if (
      link === this.#upstream &&
      (msg.type === "run" || msg.type === "kv" || msg.type === "skip")
    ) {
      if (this.#core.stats.queued >= this.#maxQueuedItems) {
        this.#overflow(`${this.#maxQueuedItems} items`);
        return;
      }
      switch (msg.type) {
        case "run":
          try {
            const input = decodeRun(msg, body, `stage ${this.#upstream.remoteId}`);
            const bytes = (input.hidden?.byteLength ?? 0) + (input.tokens?.byteLength ?? 0);
            if (this.#queuedTotal + bytes > this.#maxQueuedBytes) {
              this.#overflow(`${this.#maxQueuedBytes} bytes`);
              return;
            }
            this.#queuedTotal += bytes;
            this.#queued.push({ bytes, wire: body.byteLength });
            this.#core.push(input);
          } catch (e) {
            // A malformed run cannot be applied; the stream is out of step: end the session.
            const err =
              e instanceof MeshError ? e : new MeshError("ERR_PROTOCOL_DECODE", String(e));
            this.#tell({ type: "error", code: err.code, message: err.message, runId: msg.runId });
            this.#end(err);
          }
          return;
        case "kv":
          this.#core.push({ type: "kv", op: msg.op });
          return;
        case "skip":
          this.#queued.push({ bytes: 0, wire: null });
          this.#core.push({
            type: "skip",
            runId: msg.runId,
            stageComputeMs: msg.stageComputeMs,
            stageTimesMs: msg.stageTimesMs,
          });
          return;
      }
    }
    if (msg.type === "error") return; // a neighbour's complaint; the head is told by whoever failed
    link.send(
      {
        type: "error",
        code: "ERR_PROTOCOL_UNKNOWN",
        message: `unexpected "${msg.type}" from ${link.remoteId}`,
      },
      undefined,
      "control",
    );
  }

  /** Every queued run ends in exactly one sink run or skip, in arrival order; its credit returns. */
  #dequeued(): void {
    const item = this.#queued.shift();
    if (item === undefined) return;
    this.#queuedTotal -= item.bytes;
    if (item.wire !== null && this.#upstream.open) this.#upstream.releaseRun(item.wire);
  }

  /** The sender ignored backpressure: refuse and end the session (its memory stays bounded). */
  #overflow(bound: string): void {
    const err = new MeshError(
      "ERR_QUEUE_FULL",
      `stage ${this.#head.localId}: input queue above ${bound}`,
    );
    this.#tell({ type: "error", code: err.code, message: err.message });
    this.#end(err);
  }

  /**
   * A neighbour sent something that failed validation (ERR_PROTOCOL_DECODE): the stream is out of step, so
   * the head hears the code naming that neighbour and the session ends. A newer peer's unknown message type
   * is only answered (additive protocol changes stay compatible).
   */
  #invalid(link: Link, error: MeshError): void {
    if (this.#closed || error.code === "ERR_PROTOCOL_UNKNOWN") return;
    this.#tell({ type: "error", code: error.code, message: error.message, peerId: link.remoteId });
    this.#end(error);
  }

  /** A neighbour vanished: tell the head which one (it may still be reachable), then end. */
  #lost(link: Link, error: MeshError): void {
    if (this.#closed) return;
    if (link !== this.#head) {
      this.#tell({
        type: "error",
        code: "ERR_PEER_LOST",
        message: error.message,
        peerId: link.remoteId,
      });
    }
    this.#end(error);
  }

  #tell(msg: Unversioned<Extract<LinkMessage, { type: "error" }>>): void {
    if (!this.#head.open) return;
    try {
      this.#head.send(msg, undefined, "control");
    } catch {
      // the head link is gone; its close handler ends the session
    }
  }

  #end(error: MeshError | null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#core.destroy();
    for (const link of new Set([
      this.#upstream,
      this.#head,
      ...(this.#downstream === null ? [] : [this.#downstream]),
    ])) {
      link.destroy(error === null ? "stage session ended" : error.code);
    }
    this.#onClose?.(error);
  }
}
