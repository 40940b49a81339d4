// WebGpuShard: the LayerShard of the WebGPU backend. KV metadata (cells, gather lists, ops, abort release)
// is E1's KvCache on the host; K/V data lives in one GPU buffer per layer. A run uploads its inputs, encodes
// every layer into one submit (or one submit per layer when an AbortSignal is given, so an abort can land
// between layers) and reads back only the final output: hidden states, or the output rows' logits from
// which the host takes argmax and top-k. Runs and KV ops apply strictly in issue order.

import type { ModelConfig } from "../config.ts";
import { EngineError, throwIfAborted } from "../errors.ts";
import {
  BufferPool,
  createStorage,
  encodeReadback,
  writeArray,
  writeDims,
} from "../gpu/buffers.ts";
import { describeAdapter, type GpuContext } from "../gpu/device.ts";
import { ropeTables, topKRef } from "../kernels/reference.ts";
import { embedRowsCpu } from "../model/packed-linear.ts";
import type { PackedMatrix } from "../quant/tensor-type.ts";
import { packGather } from "../kernels/attention.ts";
import type {
  KvOp,
  LayerShard,
  RowOutput,
  ShardBatch,
  ShardInfo,
  ShardResult,
} from "../model/batch.ts";
import { KvCache, type KvClaim } from "../model/kv-cache.ts";
import { SerialQueue, yieldToEventLoop } from "../model/serial-queue.ts";
import { validateBatch, type BatchLimits } from "../model/validate-batch.ts";
import type { ShardWeights } from "../model/weights.ts";
import { ForwardPlan, type PlanCapacity } from "./forward-plan.ts";
import { destroyShardWeights, type GpuShardWeights } from "./gpu-weights.ts";

export interface WebGpuShardParts {
  /** The device; never destroyed by the shard (it may be shared). */
  ctx: GpuContext;
  config: ModelConfig;
  info: ShardInfo;
  limits: BatchLimits;
  /** Host weights the shard still needs: the embedding table of a first shard. */
  host: Pick<ShardWeights, "embed">;
  gpu: GpuShardWeights;
  kvCells: number;
  maxSeqs: number;
}

const MIN_CAPACITY_ROWS = 8;

function nextPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

export class WebGpuShard implements LayerShard {
  readonly info: ShardInfo;
  readonly #p: WebGpuShardParts;
  readonly #cache: KvCache;
  readonly #kv: GPUBuffer[]; // per layer [kvCells, 2, kvDim]
  readonly #pool: BufferPool;
  readonly #queue = new SerialQueue();
  #plan: ForwardPlan | null = null;
  #destroyed = false;

  constructor(parts: WebGpuShardParts) {
    this.#p = parts;
    this.info = parts.info;
    this.#cache = new KvCache({ cells: parts.kvCells, maxSeqs: parts.maxSeqs });
    this.#pool = new BufferPool(parts.ctx);
    const kvFloats = parts.kvCells * 2 * parts.config.kvDim;
    this.#kv = [];
    try {
      for (let i = 0; i < parts.gpu.layers.length; i++) {
        this.#kv.push(
          createStorage(parts.ctx, kvFloats * 4, `kv layer ${parts.info.layerStart + i}`),
        );
      }
    } catch (e) {
      for (const b of this.#kv) b.destroy();
      throw e;
    }
  }

  run(batch: ShardBatch, signal?: AbortSignal): Promise<ShardResult> {
    return this.#queue.push(() => this.#run(batch, signal));
  }

  kv(op: KvOp): Promise<void> {
    return this.#queue.push(() => {
      this.#checkAlive();
      this.#cache.apply(op);
    });
  }

  kvUsed(): Promise<number> {
    return this.#queue.push(() => {
      this.#checkAlive();
      return this.#cache.used();
    });
  }

  destroy(): Promise<void> {
    if (this.#destroyed) return Promise.resolve();
    this.#destroyed = true;
    // Queued behind in-flight work so no run encodes on freed buffers; later calls see ERR_DESTROYED.
    return this.#queue.push(() => {
      this.#plan?.destroy();
      this.#plan = null;
      this.#pool.destroy();
      for (const b of this.#kv) b.destroy();
      destroyShardWeights(this.#p.gpu);
    });
  }

  async #run(batch: ShardBatch, signal: AbortSignal | undefined): Promise<ShardResult> {
    this.#checkAlive();
    throwIfAborted(signal, "the run");
    const { rows, topK } = validateBatch(batch, this.#p.limits);
    const claim = this.#cache.claim(batch);
    try {
      return await this.#forward(batch, rows, topK, claim, signal);
    } catch (e) {
      this.#cache.release(claim.cells);
      // A lost device fails a pending map before `device.lost` settles; give the loss a moment to land
      // so the caller sees ERR_GPU_LOST rather than the map's own error.
      if (!(e instanceof EngineError) && this.#p.ctx.lost === null) {
        await Promise.race([this.#p.ctx.device.lost, yieldToEventLoop()]);
      }
      throw this.#p.ctx.lost ?? e;
    }
  }

  async #forward(
    batch: ShardBatch,
    rows: number,
    topK: number,
    claim: KvClaim,
    signal: AbortSignal | undefined,
  ): Promise<ShardResult> {
    const { ctx, config, info } = this.#p;
    const h = config.hiddenSize;
    const outRows = info.tail ? batch.outputRows : new Int32Array(0);
    const gather = packGather(claim.offsets, claim.cellIdx);
    const plan = this.#planFor({
      rows,
      gather: gather.length,
      outRows: Math.max(1, outRows.length),
    });
    const s = plan.scratch;
    const x =
      batch.tokens !== undefined
        ? embedRowsCpu(this.#embedTable(), batch.tokens)
        : (batch.hidden ?? new Float32Array(0));
    const { cos, sin } = ropeTables(batch.positions, config.rope.invFreq);
    writeArray(ctx, s.x, x);
    writeArray(ctx, s.cos, cos);
    writeArray(ctx, s.sin, sin);
    writeArray(ctx, s.cells, Uint32Array.from(claim.cells));
    writeArray(ctx, s.gather, gather);
    writeDims(ctx, plan.dims, rows);
    writeDims(ctx, plan.dimsOut, outRows.length);

    const device = ctx.device;
    const errors: Promise<GPUError | null>[] = [];
    let encoder = device.createCommandEncoder({ label: "run" });
    if (signal === undefined) {
      errors.push(
        scoped(device, () => {
          const pass = encoder.beginComputePass({ label: "layers" });
          for (let i = 0; i < plan.layerCount; i++) plan.encodeLayer(pass, i, rows);
          pass.end();
        }),
      );
    } else {
      // One submit per layer; while layer i runs we wait for layer i - 1, so the GPU stays busy and an
      // abort stops the run within about one layer.
      let previous: Promise<void> | undefined;
      for (let i = 0; i < plan.layerCount; i++) {
        const current = encoder;
        errors.push(
          scoped(device, () => {
            const pass = current.beginComputePass({ label: `layer ${i}` });
            plan.encodeLayer(pass, i, rows);
            pass.end();
            device.queue.submit([current.finish()]);
          }),
        );
        const done = device.queue.onSubmittedWorkDone();
        if (previous !== undefined) await previous;
        this.#checkAlive();
        throwIfAborted(signal, "the run");
        previous = done;
        encoder = device.createCommandEncoder({ label: "run" });
      }
      if (previous !== undefined) await previous;
      this.#checkAlive();
      throwIfAborted(signal, "the run");
    }
    let read: () => Promise<ArrayBuffer> = () => Promise.resolve(new ArrayBuffer(0));
    const last = encoder;
    errors.push(
      scoped(device, () => {
        if (info.tail && outRows.length === 0) {
          // A last shard asked for no outputs (e.g. a prompt chunk that only fills the cache): the layers
          // write K/V and nothing is read back; the run still ends when the GPU has done its work.
          read = () => device.queue.onSubmittedWorkDone().then(() => new ArrayBuffer(0));
        } else if (info.tail && s.logits !== undefined) {
          plan.encodeHead(last, outRows, h);
          read = encodeReadback(ctx, last, s.logits, 0, outRows.length * config.vocabSize * 4);
        } else {
          read = encodeReadback(ctx, last, s.x, 0, rows * h * 4);
        }
        device.queue.submit([last.finish()]);
      }),
    );
    const bytes = await read();
    for (const e of await Promise.all(errors)) {
      if (e !== null)
        throw new EngineError("ERR_INTERNAL", `WebGPU error during a run: ${e.message}`);
    }
    ctx.check();
    if (!info.tail) return { hidden: new Float32Array(bytes) };
    return {
      outputs: rowOutputs(
        new Float32Array(bytes),
        config.vocabSize,
        outRows,
        batch.logitsRows,
        topK,
      ),
    };
  }

  /** The plan for at least `need`, rebuilt (with doubled capacities) only when a run outgrows it. */
  #planFor(need: PlanCapacity): ForwardPlan {
    const cur = this.#plan;
    if (
      cur !== null &&
      need.rows <= cur.capacity.rows &&
      need.gather <= cur.capacity.gather &&
      need.outRows <= cur.capacity.outRows
    ) {
      return cur;
    }
    const capacity: PlanCapacity = {
      rows: Math.max(cur?.capacity.rows ?? 0, nextPow2(Math.max(need.rows, MIN_CAPACITY_ROWS))),
      gather: Math.max(cur?.capacity.gather ?? 0, nextPow2(need.gather)),
      outRows: Math.max(
        cur?.capacity.outRows ?? 0,
        nextPow2(Math.max(need.outRows, MIN_CAPACITY_ROWS)),
      ),
    };
    cur?.destroy();
    this.#plan = null;
    const { ctx, config, gpu, kvCells } = this.#p;
    this.#plan = new ForwardPlan(ctx, this.#pool, config, gpu, this.#kv, kvCells, capacity);
    return this.#plan;
  }

  #embedTable(): PackedMatrix {
    const t = this.#p.host.embed;
    if (t === undefined) throw new EngineError("ERR_INTERNAL", "a first shard without embeddings");
    return t;
  }

  #checkAlive(): void {
    if (this.#destroyed) throw new EngineError("ERR_DESTROYED", "the shard was destroyed");
    this.#p.ctx.check();
  }

  /** For tests and logs. */
  get adapterDescription(): string {
    return describeAdapter(this.#p.ctx.adapter);
  }
}

/**
 * Runs `fn` (synchronous GPU calls only) inside validation and out-of-memory error scopes, popped before
 * returning so scopes never interleave with another shard's on a shared device.
 */
function scoped(device: GPUDevice, fn: () => void): Promise<GPUError | null> {
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  let thrown: { error: unknown } | undefined;
  try {
    fn();
  } catch (error) {
    thrown = { error };
  }
  // Popped even when fn threw (a guard), keeping the stack balanced.
  const validation = device.popErrorScope();
  const oom = device.popErrorScope();
  // A pop rejects only when the device is gone; ctx.check() reports that as ERR_GPU_LOST.
  const both = Promise.all([validation, oom]).then(
    ([v, o]) => v ?? o,
    () => null,
  );
  if (thrown !== undefined) throw thrown.error;
  return both;
}

/** Argmax, probability and top-k per output row from [outRows, vocab] logits (host side, topKRef). */
function rowOutputs(
  logits: Float32Array,
  vocab: number,
  outputRows: Int32Array,
  logitsRows: Int32Array | undefined,
  topK: number,
): RowOutput[] {
  const want = new Set(logitsRows ?? []);
  return Array.from(outputRows, (row, i) => {
    const rowLogits = logits.slice(i * vocab, (i + 1) * vocab);
    const top = topKRef(rowLogits, topK);
    return {
      row,
      argmax: top.argmax,
      prob: top.prob,
      topIds: top.ids,
      topProbs: top.probs,
      logits: want.has(row) ? rowLogits : undefined,
    };
  });
}
