// DraftModel: the engine's mirror of the mesh's `Drafter` port (packages/mesh/src/ports.ts), declared here
// so the engine never imports the mesh; every draft model of the engine (EngineDrafter, an ONNX drafter)
// implements it and the apps check the fit with `satisfies Drafter`. Types only.

/** The draft model's next-token distribution after a context. */
export interface DraftPrediction {
  /** [k] candidate ids by descending probability (ties: lower id first). */
  topIds: Int32Array;
  /** [k] their probabilities (softmax at temperature 1). */
  topProbs: Float32Array;
  /** [vocab] full probabilities, only when asked (sampled drafting at temperature > 0). */
  probs?: Float32Array | undefined;
}

export interface DraftOptions {
  /** Candidates per context (clamped to the vocabulary). */
  topK: number;
  /** Also return the full distribution. */
  wantProbs?: boolean | undefined;
}

/**
 * A draft model at the head. Contexts are full token sequences (prompt + accepted + speculative); the model
 * caches its state per context prefix, so a context that extends an earlier one costs only its new tokens.
 */
export interface DraftModel {
  readonly vocabSize: number;
  /** One prediction per context, in order; all contexts' new tokens are evaluated together. */
  predict(
    contexts: readonly Int32Array[],
    options: DraftOptions,
    signal?: AbortSignal,
  ): Promise<DraftPrediction[]>;
  /** The accepted context is now `accepted`: state inconsistent with it may be dropped. */
  accept(accepted: Int32Array): Promise<void>;
  /** Forget everything (new conversation). */
  reset(): Promise<void>;
  /** Idempotent; afterwards every method rejects with ERR_DESTROYED. */
  destroy(): Promise<void>;
}
