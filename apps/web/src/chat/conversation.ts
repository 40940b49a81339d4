// A chat conversation as the head keeps it: the messages (for the chat template) and the exact token
// history the model saw and produced (prompt tokens, generated tokens, the stop token). A follow-up turn
// continues that history with only the template's new text, so the stages' KV of the earlier turns is
// reused as is; when the rendered template does not extend the history's text, the whole conversation is
// re-encoded and the scheduler reuses the longest common prefix. Pure; the tokenizer is injected.

import type { ChatMessage } from "@pipemesh/engine";

/** What Conversation needs of the engine's TextTokenizer. */
export interface ChatTokenizer {
  applyChatTemplate(
    messages: readonly ChatMessage[],
    options?: { addGenerationPrompt?: boolean },
  ): string;
  encode(text: string, options?: { addSpecialTokens?: boolean }): Int32Array;
  decode(ids: ArrayLike<number>, options?: { skipSpecialTokens?: boolean }): string;
}

export interface TurnTokens {
  /** History whose KV the stages hold (empty when re-encoding from scratch). */
  previousTokens: number[];
  /** This turn's tokens (the template's new text). */
  newTokens: number[];
}

export class Conversation {
  readonly #tokenizer: ChatTokenizer;
  #messages: ChatMessage[] = [];
  #tokens: number[] = [];

  constructor(tokenizer: ChatTokenizer) {
    this.#tokenizer = tokenizer;
  }

  get messages(): readonly ChatMessage[] {
    return this.#messages;
  }

  /** The token history (prompt + generated + stop tokens of every turn so far). */
  get tokens(): readonly number[] {
    return this.#tokens;
  }

  /** The tokens of the next turn with `userText` (the template with the generation prompt applied). */
  nextTurn(userText: string): TurnTokens {
    const messages = [...this.#messages, { role: "user", content: userText }];
    const full = this.#tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
    const encode = (text: string): number[] =>
      Array.from(this.#tokenizer.encode(text, { addSpecialTokens: false }));
    if (this.#tokens.length > 0) {
      const said = this.#tokenizer.decode(this.#tokens, { skipSpecialTokens: false });
      if (full.startsWith(said)) {
        return { previousTokens: [...this.#tokens], newTokens: encode(full.slice(said.length)) };
      }
    }
    return { previousTokens: [], newTokens: encode(full) };
  }

  /**
   * Records a finished (or stopped, or failed) turn: its prompt, the generated tokens and the stop token
   * that ended it (undefined when it ended otherwise).
   */
  commit(
    userText: string,
    turn: TurnTokens,
    generated: readonly number[],
    stopTokenId: number | undefined,
  ): void {
    const reply = this.#tokenizer.decode(generated, { skipSpecialTokens: true });
    this.#messages = [
      ...this.#messages,
      { role: "user", content: userText },
      { role: "assistant", content: reply },
    ];
    this.#tokens = [
      ...turn.previousTokens,
      ...turn.newTokens,
      ...generated,
      ...(stopTokenId === undefined ? [] : [stopTokenId]),
    ];
  }

  /** Forgets everything (start over). */
  reset(): void {
    this.#messages = [];
    this.#tokens = [];
  }
}
