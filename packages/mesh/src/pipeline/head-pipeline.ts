// PipelinePort over WebRTC (or any) links: the head embeds each run with its own StageRunner (embeddings and
// possibly the first layers), sends activations to stage 1, KV ops down the chain in order, cancels straight
// to every stage on the control lane, and takes outcomes from the tail in launch order. A stage that vanishes
// (link closed, or silent past the heartbeat timeout) makes next() reject with ERR_PEER_LOST naming it.

import { MeshError, toMeshErrorCode } from "../errors.ts";
import type { PipelinePort, RunOutcome, RunSpec, StageKvOp, StageRunner } from "../ports.ts";
import type { WireDtype } from "../protocol/messages.ts";
import type { Clock } from "../transport/clock.ts";
import type { Link, LinkMessage } from "../transport/link.ts";
import { OutcomeQueue } from "./outcomes.ts";
import { StageCore, type StageSink } from "./stage-core.ts";
import { decodeResult, encodeRun } from "./wire.ts";

export interface HeadPipelineOptions {
  /** The head's own shard: embeds tokens (layers [0, k), k may be 0). */
  runner: StageRunner;
  /** One link per remote stage, in pipeline order; the first carries runs, the last returns outcomes. */
  stages: readonly Link[];
  activationDtype?: WireDtype;
  clock?: Clock;
  /** Issue a KV `clear` before the first run so no stage keeps another head's cache (default true). */
  clearOnStart?: boolean;
}

export class HeadPipeline implements PipelinePort {
  readonly #outcomes = new OutcomeQueue();
  readonly #stages: readonly Link[];
  readonly #core: StageCore;
  #destroyed = false;

  constructor(options: HeadPipelineOptions) {
    const stages = options.stages;
    const first = stages[0];
    const tail = stages[stages.length - 1];
    if (first === undefined || tail === undefined) {
      throw new MeshError(
        "ERR_PLAN_IMPOSSIBLE",
        "a networked pipeline needs at least one remote stage",
      );
    }
    this.#stages = stages;
    const dtype = options.activationDtype ?? "f32";
    const sink: StageSink = {
      run: async (header, result) => {
        if (result.hidden === undefined) {
          throw new MeshError(
            "ERR_STAGE_FAILED",
            `the head's shard returned no hidden states for run ${header.runId}`,
          );
        }
        const { msg, body } = encodeRun(header, result.hidden, dtype);
        first.send(msg, body);
        await first.whenWritable();
      },
      kv: (op) => first.send({ type: "kv", op }),
      skip: (runId, stageComputeMs, stageTimesMs) =>
        first.send({
          type: "skip",
          runId,
          stageComputeMs,
          ...(stageTimesMs === undefined ? {} : { stageTimesMs }),
        }),
      failed: (runId, error) => {
        if (
          error instanceof MeshError &&
          (error.code === "ERR_PEER_LOST" || error.code === "ERR_PEER_DESTROYED")
        ) {
          return; // the link's close handler reports it with the peer's id
        }
        this.#fail(
          new MeshError(
            "ERR_STAGE_FAILED",
            `head${runId === null ? "" : ` run ${runId}`}: ${String(error)}`,
            {
              cause: error,
              details: { stageIndex: 0 },
            },
          ),
        );
      },
    };
    this.#core = new StageCore({
      runner: options.runner,
      sink,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    stages.forEach((link, i) => {
      link.listen({
        message: (msg, body) => this.#onMessage(link, i + 1, msg, body),
        close: (error) =>
          this.#fail(
            new MeshError(
              "ERR_PEER_LOST",
              `stage ${i + 1} (peer ${link.remoteId}) lost: ${error.message}`,
              {
                cause: error,
                details: { peerId: link.remoteId, stageIndex: i + 1 },
              },
            ),
          ),
      });
    });
    if (options.clearOnStart ?? true) this.kv({ op: "clear" });
  }

  launch(run: RunSpec): void {
    if (this.#destroyed || this.#outcomes.failed !== null) {
      // next() reports the failure; launching more would only queue work nobody applies.
      this.#outcomes.launched(run.runId, run.kind);
      return;
    }
    this.#outcomes.launched(run.runId, run.kind);
    this.#core.push({
      type: "run",
      tokens: run.tokens,
      header: {
        runId: run.runId,
        kind: run.kind,
        positions: run.positions,
        seqIds: run.seqIds,
        outputRows: run.outputRows,
        logitsRows: run.logitsRows,
        topK: run.topK,
        stageComputeMs: 0,
      },
    });
  }

  kv(op: StageKvOp): void {
    if (!this.#destroyed && this.#outcomes.failed === null) this.#core.push({ type: "kv", op });
  }

  cancel(runIds: readonly number[]): void {
    if (this.#destroyed || this.#outcomes.failed !== null) return;
    const ids = runIds.filter((id) => this.#outcomes.kindOf(id) === "speculative");
    if (ids.length === 0) return;
    this.#core.cancel(ids);
    for (const link of this.#stages) {
      if (!link.open) continue;
      try {
        link.send({ type: "cancel", runIds: ids }, undefined, "control");
      } catch {
        // the link's close handler reports the loss
      }
    }
  }

  hasOutcome(): boolean {
    return this.#outcomes.hasOutcome();
  }

  next(signal?: AbortSignal): Promise<RunOutcome> {
    return this.#outcomes.next(signal);
  }

  /** The failure that ended this pipeline, if any. */
  get failure(): MeshError | null {
    return this.#outcomes.failed;
  }

  /** Per-link transport numbers (rtt, bytes) in stage order. */
  linkStats(): {
    peerId: string;
    rttMs: number | null;
    bytesSent: number;
    bytesReceived: number;
  }[] {
    return this.#stages.map((l) => ({
      peerId: l.remoteId,
      rttMs: l.stats.rttMs,
      bytesSent: l.stats.bytesSent,
      bytesReceived: l.stats.bytesReceived,
    }));
  }

  /** Fails the pipeline from outside (e.g. the room saw a stage leave before its heartbeat did). */
  abort(error: MeshError): void {
    this.#fail(error);
  }

  /** Closes every link politely; outstanding next() calls reject with ERR_DESTROYED. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#fail(new MeshError("ERR_DESTROYED", "pipeline destroyed"));
  }

  #onMessage(link: Link, stageIndex: number, msg: LinkMessage, body: Uint8Array): void {
    const fromTail = stageIndex === this.#stages.length;
    if (fromTail && msg.type === "result") {
      try {
        this.#outcomes.deliver(decodeResult(msg, body));
      } catch (e) {
        this.#fail(e instanceof MeshError ? e : new MeshError("ERR_PROTOCOL_DECODE", String(e)));
      }
      return;
    }
    if (fromTail && msg.type === "skip") {
      this.#outcomes.deliver({
        runId: msg.runId,
        status: "skipped",
        stageComputeMs: msg.stageComputeMs,
        ...(msg.stageTimesMs === undefined ? {} : { stageTimesMs: msg.stageTimesMs }),
      });
      return;
    }
    if (msg.type === "error") {
      const code = toMeshErrorCode(msg.code);
      const lost = msg.peerId ?? link.remoteId;
      this.#fail(
        new MeshError(code, `stage ${stageIndex} (peer ${link.remoteId}): ${msg.message}`, {
          details: {
            peerId: lost,
            stageIndex,
            ...(msg.runId === undefined ? {} : { runId: msg.runId }),
          },
        }),
      );
      return;
    }
    try {
      link.send(
        {
          type: "error",
          code: "ERR_PROTOCOL_UNKNOWN",
          message: `the head does not accept "${msg.type}" from stage ${stageIndex}`,
        },
        undefined,
        "control",
      );
    } catch {
      // ignore: the link is closing
    }
  }

  #fail(error: MeshError): void {
    this.#outcomes.fail(error);
    this.#core.destroy();
    for (const link of this.#stages) link.destroy(error.code);
  }
}
