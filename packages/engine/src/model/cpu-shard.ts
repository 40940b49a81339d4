// CpuShard: the LayerShard of the CPU backend (`--backend cpu`), the plain-TypeScript reference of the full
// forward pass. Runs and KV ops are applied strictly in issue order; the AbortSignal is checked before and
// between layers, and an aborted run frees the cells it claimed. Slow by design: it is the oracle.

import { EngineError, throwIfAborted } from "../errors.ts";
import { ropeTables } from "../kernels/reference.ts";
import { embedRowsCpu } from "./packed-linear.ts";
import type { KvOp, LayerShard, ShardBatch, ShardInfo, ShardResult } from "./batch.ts";
import { headForwardCpu, layerForwardCpu, type LayerKv } from "./forward-cpu.ts";
import { KvCache } from "./kv-cache.ts";
import { SerialQueue, yieldToEventLoop } from "./serial-queue.ts";
import { DEFAULT_MAX_SEQS, DEFAULT_TOP_K, type ShardFactoryArgs } from "./shard-spec.ts";
import { validateBatch, type BatchLimits } from "./validate-batch.ts";
import { shardWeightBytes, type ShardWeights } from "./weights.ts";
import type { ModelConfig } from "../config.ts";

export class CpuShard implements LayerShard {
  readonly info: ShardInfo;
  readonly #config: ModelConfig;
  readonly #weights: ShardWeights;
  readonly #cache: KvCache;
  readonly #kv: LayerKv[];
  readonly #limits: BatchLimits;
  readonly #queue = new SerialQueue();
  #destroyed = false;

  constructor({ config, weights, spec }: ShardFactoryArgs) {
    checkWeights(weights, spec.layerStart, spec.layerEnd, spec.embeds, spec.tail);
    this.#config = config;
    this.#weights = weights;
    const maxSeqs = spec.maxSeqs ?? DEFAULT_MAX_SEQS;
    this.#cache = new KvCache({ cells: spec.kvCells, maxSeqs });
    this.#kv = weights.layers.map(() => ({
      k: new Float32Array(spec.kvCells * config.kvDim),
      v: new Float32Array(spec.kvCells * config.kvDim),
    }));
    const topK = spec.topK ?? DEFAULT_TOP_K;
    this.#limits = {
      embeds: spec.embeds,
      tail: spec.tail,
      hiddenSize: config.hiddenSize,
      vocabSize: config.vocabSize,
      maxPositions: config.maxPositions,
      topK,
    };
    this.info = {
      layerStart: spec.layerStart,
      layerEnd: spec.layerEnd,
      embeds: spec.embeds,
      tail: spec.tail,
      backend: "cpu",
      adapter: "cpu",
      hiddenSize: config.hiddenSize,
      vocabSize: config.vocabSize,
      kvCells: spec.kvCells,
      maxSeqs,
      weightBytes: shardWeightBytes(weights, false),
    };
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
    this.#destroyed = true;
    return Promise.resolve();
  }

  async #run(batch: ShardBatch, signal: AbortSignal | undefined): Promise<ShardResult> {
    this.#checkAlive();
    throwIfAborted(signal, "the run");
    const { rows, topK } = validateBatch(batch, this.#limits);
    const claim = this.#cache.claim(batch);
    try {
      const w = this.#weights;
      const config = this.#config;
      const h =
        batch.tokens !== undefined && w.embed !== undefined
          ? embedRowsCpu(w.embed, batch.tokens)
          : (batch.hidden ?? new Float32Array(0)).slice();
      const rope = ropeTables(batch.positions, config.rope.invFreq);
      for (let i = 0; i < w.layers.length; i++) {
        await this.#checkpoint(signal);
        const layer = w.layers[i];
        const kv = this.#kv[i];
        if (layer === undefined || kv === undefined) throw new EngineError("ERR_INTERNAL", "layer");
        layerForwardCpu(config, layer, h, rows, rope, kv, claim);
      }
      await this.#checkpoint(signal);
      if (!this.info.tail || w.finalNorm === undefined || w.lmHead === undefined)
        return { hidden: h };
      const outputs = headForwardCpu(
        config,
        w.finalNorm,
        w.lmHead,
        h,
        batch.outputRows,
        batch.logitsRows,
        topK,
      );
      return { outputs };
    } catch (e) {
      this.#cache.release(claim.cells);
      throw e;
    }
  }

  async #checkpoint(signal: AbortSignal | undefined): Promise<void> {
    if (signal !== undefined) await yieldToEventLoop();
    this.#checkAlive();
    throwIfAborted(signal, "the run");
  }

  #checkAlive(): void {
    if (this.#destroyed) throw new EngineError("ERR_DESTROYED", "the shard was destroyed");
  }
}

function checkWeights(
  w: ShardWeights,
  layerStart: number,
  layerEnd: number,
  embeds: boolean,
  head: boolean,
): void {
  const ok =
    w.layerStart === layerStart &&
    w.layerEnd === layerEnd &&
    w.layers.length === layerEnd - layerStart &&
    (!embeds || w.embed !== undefined) &&
    (!head || (w.finalNorm !== undefined && w.lmHead !== undefined));
  if (!ok) {
    throw new EngineError(
      "ERR_INTERNAL",
      `weights for layers [${w.layerStart}, ${w.layerEnd}) do not fit shard [${layerStart}, ${layerEnd})`,
    );
  }
}

/** The CPU backend's factory (same signature as the WebGPU one). */
export function createCpuShard(args: ShardFactoryArgs): Promise<LayerShard> {
  return Promise.resolve(new CpuShard(args));
}
