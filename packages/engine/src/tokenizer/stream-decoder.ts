// StreamDecoder: turns generated token ids into text incrementally. It never emits a partial UTF-8
// character (it waits while the decoded tail ends in U+FFFD), and the chunks it emits only ever append,
// so the text of tokens 0..n is a prefix of the text of tokens 0..n+1. Decodes a short window of recent
// tokens each time (the vLLM offsets scheme), so cost per token does not grow with the output.

import type { TextTokenizer } from "./text-tokenizer.ts";

const REPLACEMENT = "\uFFFD";

export interface StreamDecoderOptions {
  skipSpecialTokens?: boolean;
  /**
   * Ids that precede the stream (the prompt's tail). They are decoded only as context, so the first
   * generated token gets the spacing it has mid-sequence (SentencePiece strips a leading space otherwise).
   */
  contextIds?: ArrayLike<number>;
}

const CONTEXT_TOKENS = 6;

export class StreamDecoder {
  readonly #tokenizer: TextTokenizer;
  readonly #skipSpecial: boolean;
  readonly #ids: number[];
  #prefixOffset = 0; // start of the decode window
  #readOffset: number; // ids before this are already emitted
  #text = "";

  constructor(tokenizer: TextTokenizer, options: StreamDecoderOptions = {}) {
    this.#tokenizer = tokenizer;
    this.#skipSpecial = options.skipSpecialTokens ?? true;
    const ctx = Array.from(options.contextIds ?? []);
    this.#ids = ctx.slice(Math.max(0, ctx.length - CONTEXT_TOKENS));
    this.#readOffset = this.#ids.length;
  }

  /** All text emitted so far. */
  get text(): string {
    return this.#text;
  }

  /** Adds one token; returns the new text it completes ("" while a character is still partial). */
  push(id: number): string {
    this.#ids.push(id);
    return this.#emit(false);
  }

  /** Emits whatever is held back (a trailing partial character becomes U+FFFD). */
  flush(): string {
    return this.#emit(true);
  }

  #emit(final: boolean): string {
    if (this.#readOffset >= this.#ids.length) return "";
    const decode = (from: number, to?: number): string =>
      this.#tokenizer.decode(this.#ids.slice(from, to), { skipSpecialTokens: this.#skipSpecial });
    const prefix = decode(this.#prefixOffset, this.#readOffset);
    const full = decode(this.#prefixOffset);
    if (full.length <= prefix.length && !final) return "";
    if (!final && full.endsWith(REPLACEMENT)) return "";
    const delta = full.slice(prefix.length);
    this.#prefixOffset = this.#readOffset;
    this.#readOffset = this.#ids.length;
    this.#text += delta;
    return delta;
  }
}
