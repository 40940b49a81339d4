// PipelinePort over WebRTC (or any) links: the head embeds each run with its own StageRunner (embeddings and
// possibly the first layers), sends activations to stage 1, KV ops down the chain in order, cancels straight
// to every stage on the control lane, and takes outcomes from the tail in launch order. A stage that vanishes
// (link closed, or silent past the heartbeat timeout) makes next() reject with ERR_PEER_LOST naming it; so
// does one that stays connected while the oldest run passes its measured deadline (run-deadline.ts). A
// result is checked against its run and the model before anyone sees it (result-check.ts); one that fails,
// answers a run it was not given, or a message that fails validation fails the pipeline with its code.

import { MeshError, toMeshErrorCode } from "../errors.ts";
import type { PipelinePort, RunOutcome, RunSpec, StageKvOp, StageRunner } from "../ports.ts";
import type { WireDtype } from "../protocol/messages.ts";
import { systemClock, type Clock } from "../transport/clock.ts";
import type { Link, LinkMessage } from "../transport/link.ts";
import { failureCode } from "./finite.ts";
import { OutcomeQueue } from "./outcomes.ts";
import { checkResult, type RunAsk } from "./result-check.ts";
import { RunDeadline } from "./run-deadline.ts";
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
  /** The model's vocabulary size: result ids at or above it are ERR_RESULT_INVALID. */
  vocabSize?: number;
  /** Run deadline: the smallest bound and the multiple of the expected time (default 5000 ms, 3). */
  stallMinMs?: number;
  stallFactor?: number;
  /** Run deadline before any run has been measured (default 120000 ms). */
  stallUnmeasuredMs?: number;
}

export class HeadPipeline implements PipelinePort {
  readonly #outcomes = new OutcomeQueue();
  readonly #stages: readonly Link[];
  readonly #core: StageCore;
  readonly #deadline: RunDeadline;
  readonly #vocabSize: number | undefined;
  /** What the head asked of each run that has no outcome yet. */
  readonly #asks = new Map<number, RunAsk>();
  /** Runs handed to stage 1 (not skipped at the head) that have no outcome yet, in order. */
  readonly #sent = new Set<number>();
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
    this.#vocabSize = options.vocabSize;
    this.#deadline = new RunDeadline({
      clock: options.clock ?? systemClock,
      ...(options.stallMinMs === undefined ? {} : { minMs: options.stallMinMs }),
      ...(options.stallFactor === undefined ? {} : { factor: options.stallFactor }),
      ...(options.stallUnmeasuredMs === undefined
        ? {}
        : { unmeasuredMs: options.stallUnmeasuredMs }),
      onExpire: (x) => this.#stalled(x.runId, x.elapsedMs, x.boundMs),
    });
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
        this.#sent.add(header.runId);
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
            failureCode(error),
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
      name: "head",
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
        rejected: (error) => {
          if (error.code === "ERR_PROTOCOL_UNKNOWN") return; // a newer peer's message: answered only
          this.#fail(
            new MeshError(error.code, `stage ${i + 1} (peer ${link.remoteId}): ${error.message}`, {
              cause: error,
              details: { peerId: link.remoteId, stageIndex: i + 1 },
            }),
          );
        },
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
    this.#asks.set(run.runId, {
      outputRows: run.outputRows,
      logitsRows: run.logitsRows,
      topK: run.topK,
    });
    this.#deadline.launched(run.runId, run.positions.length);
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
    if (this.#outcomes.failed !== null) return; // late messages of a failed pipeline change nothing
    const fromTail = stageIndex === this.#stages.length;
    if (fromTail && (msg.type === "result" || msg.type === "skip")) {
      const who = `stage ${stageIndex} (peer ${link.remoteId})`;
      try {
        const expected = this.#outcomes.awaiting();
        const ask = this.#asks.get(msg.runId);
        if (expected !== msg.runId || ask === undefined) {
          throw new MeshError(
            "ERR_RESULT_INVALID",
            `${who} answered run ${msg.runId}, which it was not given (waiting for ${expected ?? "none"})`,
          );
        }
        if (msg.type === "result") {
          const result = decodeResult(msg, body);
          checkResult(result, ask, this.#vocabSize, who);
          this.#settled(msg.runId, result.stageComputeMs);
          this.#outcomes.deliver(result);
        } else {
          this.#settled(msg.runId, null);
          this.#outcomes.deliver({
            runId: msg.runId,
            status: "skipped",
            stageComputeMs: msg.stageComputeMs,
            ...(msg.stageTimesMs === undefined ? {} : { stageTimesMs: msg.stageTimesMs }),
          });
        }
      } catch (e) {
        const err = e instanceof MeshError ? e : new MeshError("ERR_PROTOCOL_DECODE", String(e));
        this.#fail(
          new MeshError(err.code, err.message.replace(/^ERR_[A-Z0-9_]+: /, ""), {
            cause: err,
            details: { peerId: link.remoteId, stageIndex, runId: msg.runId },
          }),
        );
      }
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

  #settled(runId: number, computeMs: number | null): void {
    this.#asks.delete(runId);
    this.#sent.delete(runId);
    this.#deadline.outcome(runId, computeMs);
  }

  /**
   * The oldest run passed its deadline while every link stayed up: a stage is alive but stuck. The head's
   * own shard holds it if it was never sent; stage 1 holds it while its credit says it has not finished
   * every run sent to it that still awaits an outcome; otherwise one of the later stages does (the first of
   * them is named, the others listed).
   */
  #stalled(runId: number, elapsedMs: number, boundMs: number): void {
    if (this.#outcomes.failed !== null) return;
    let stageIndex: number;
    if (!this.#sent.has(runId)) stageIndex = 0;
    else if ((this.#stages[0]?.stats.runsOutstanding ?? 0) >= this.#sent.size) stageIndex = 1;
    else stageIndex = Math.min(2, this.#stages.length);
    const link = stageIndex === 0 ? null : this.#stages[stageIndex - 1];
    const peerId = link?.remoteId ?? "head";
    const suspects =
      stageIndex >= 2 ? this.#stages.slice(stageIndex - 1).map((l) => l.remoteId) : [peerId];
    const where = stageIndex === 0 ? "the head's shard" : `stage ${stageIndex} (peer ${peerId})`;
    this.#fail(
      new MeshError(
        "ERR_PEER_LOST",
        `${where}${suspects.length > 1 ? ` or a stage after it (${suspects.join(", ")})` : ""} is connected but returned nothing for run ${runId} in ${Math.round(elapsedMs)} ms (deadline ${Math.round(boundMs)} ms from measured stage times)`,
        { details: { peerId, stageIndex, runId, stalled: true, suspects, elapsedMs, boundMs } },
      ),
    );
  }

  #fail(error: MeshError): void {
    this.#deadline.stop();
    this.#outcomes.fail(error);
    this.#core.destroy();
    for (const link of this.#stages) link.destroy(error.code);
  }
}
