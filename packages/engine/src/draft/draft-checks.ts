// Input checks every draft model applies to a context before drafting from it (EngineDrafter,
// OrtDrafter): not empty, within the draft's context length, every id inside its vocabulary.

import { EngineError } from "../errors.ts";

export function checkDraftContext(
  tokens: Int32Array,
  what: string,
  maxPositions: number,
  vocabSize: number,
): void {
  if (tokens.length === 0) {
    throw new EngineError(
      "ERR_BATCH_INVALID",
      `${what} is empty; a draft needs at least one token`,
    );
  }
  if (tokens.length > maxPositions) {
    throw new EngineError(
      "ERR_CONTEXT_LENGTH",
      `${what} has ${tokens.length} tokens; the draft model's context is ${maxPositions}`,
    );
  }
  for (const t of tokens) {
    if (!Number.isInteger(t) || t < 0 || t >= vocabSize) {
      throw new EngineError(
        "ERR_BATCH_INVALID",
        `${what}: token id ${t} is outside the draft vocabulary (0..${vocabSize - 1})`,
      );
    }
  }
}
