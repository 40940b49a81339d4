// Stop conditions on generated tokens: stop token ids (EOS; the id itself is not returned) and stop strings
// matched on decoded text with OpenAI semantics (the text ends right before the stop string; streamed text
// holds back any tail that could still grow into a stop string, or an incomplete UTF-8 character).

export interface StopStep {
  /** Generation ends with this token. */
  stop: boolean;
  /** The token is returned to the caller (false for a stop token id). */
  keep: boolean;
  /** Newly releasable text (only with a decode function). */
  textDelta: string;
}

export class StopMatcher {
  readonly #stopIds: ReadonlySet<number>;
  readonly #strings: readonly string[];
  readonly #decode: ((tokens: readonly number[]) => string) | undefined;
  readonly #tokens: number[] = [];
  #emitted = 0;
  #text = "";
  #final: string | null = null;
  #stopTokenId: number | undefined = undefined;

  constructor(options: {
    stopTokenIds?: readonly number[] | undefined;
    stopStrings?: readonly string[] | undefined;
    decode?: ((tokens: readonly number[]) => string) | undefined;
  }) {
    this.#stopIds = new Set(options.stopTokenIds ?? []);
    this.#strings = (options.stopStrings ?? []).filter((s) => s.length > 0);
    this.#decode = options.decode;
  }

  /** The stop token id that ended the generation, if one did. */
  get stopTokenId(): number | undefined {
    return this.#stopTokenId;
  }

  /** Kept tokens so far. */
  get tokens(): readonly number[] {
    return this.#tokens;
  }

  push(token: number): StopStep {
    if (this.#final !== null) return { stop: true, keep: false, textDelta: "" };
    if (this.#stopIds.has(token)) {
      this.#stopTokenId = token;
      const textDelta = this.#flush();
      return { stop: true, keep: false, textDelta };
    }
    this.#tokens.push(token);
    if (this.#decode === undefined) return { stop: false, keep: true, textDelta: "" };
    this.#text = this.#decode(this.#tokens);
    const hit = this.#firstStop();
    if (hit >= 0) {
      this.#final = this.#text.slice(0, Math.max(hit, this.#emitted));
      const textDelta = this.#final.slice(this.#emitted);
      this.#emitted = this.#final.length;
      return { stop: true, keep: true, textDelta };
    }
    const safe = Math.max(this.#emitted, this.#text.length - this.#holdBack());
    const textDelta = this.#text.slice(this.#emitted, safe);
    this.#emitted = safe;
    return { stop: false, keep: true, textDelta };
  }

  /** At the end of a generation (length, abort): releases held-back text. */
  finish(): string {
    return this.#flush();
  }

  /** The final text (undefined without a decode function). */
  get text(): string | undefined {
    if (this.#decode === undefined) return undefined;
    return this.#final ?? this.#text;
  }

  #flush(): string {
    if (this.#final !== null) return "";
    this.#final = this.#text;
    const textDelta = this.#text.slice(this.#emitted);
    this.#emitted = this.#text.length;
    return textDelta;
  }

  #firstStop(): number {
    // Only text after what was already released can start a new match (see #holdBack).
    const longest = Math.max(0, ...this.#strings.map((s) => s.length));
    const from = Math.max(0, this.#emitted - longest);
    let best = -1;
    for (const s of this.#strings) {
      const i = this.#text.indexOf(s, from);
      if (i >= 0 && (best < 0 || i < best)) best = i;
    }
    return best;
  }

  /** Length of the longest text tail that is a proper prefix of a stop string, or an unfinished char. */
  #holdBack(): number {
    let hold = 0;
    for (const s of this.#strings) {
      for (let k = Math.min(s.length - 1, this.#text.length); k > hold; k--) {
        if (this.#text.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    let bad = 0;
    while (bad < this.#text.length && this.#text[this.#text.length - 1 - bad] === "\uFFFD") bad++;
    return Math.max(hold, bad);
  }
}
