// TextTokenizer: a model's tokenizer.json (byte-level BPE, SentencePiece-style BPE, ...) through
// @huggingface/tokenizers, with its special tokens and chat template from tokenizer_config.json.
// Not a tokenizer implementation (that is the library's), and no streaming (see stream-decoder.ts).

import { Tokenizer } from "@huggingface/tokenizers";
import { EngineError } from "../errors.ts";
import type { ModelDir } from "../loader/byte-source.ts";
import { ChatTemplate, type ChatMessage, type ChatTemplateOptions } from "./chat-template.ts";
import { isGgufModelDir } from "../loader/gguf-model.ts";
import { loadGgufTokenizer } from "./gguf-tokenizer.ts";

export const TOKENIZER_FILE = "tokenizer.json";
export const TOKENIZER_CONFIG_FILE = "tokenizer_config.json";
export const CHAT_TEMPLATE_FILE = "chat_template.jinja";

type Json = Record<string, unknown>;

/** tokenizer_config.json stores special tokens as a string or as an AddedToken object. */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (v !== null && typeof v === "object" && typeof (v as Json)["content"] === "string") {
    return (v as Json)["content"] as string;
  }
  return undefined;
}

/** `chat_template` may be one string or a list of named templates; the "default" one wins. */
function pickTemplate(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    const named = v as { name?: unknown; template?: unknown }[];
    const found = named.find((t) => t.name === "default") ?? named[0];
    return typeof found?.template === "string" ? found.template : undefined;
  }
  return undefined;
}

export interface EncodeOptions {
  /** Add the tokenizer's special tokens (e.g. a leading BOS); default true. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens from the text; default true. */
  skipSpecialTokens?: boolean;
}

export class TextTokenizer {
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
  /** Vocabulary size including added tokens. */
  readonly vocabSize: number;
  readonly chatTemplate: ChatTemplate | undefined;
  readonly #tok: Tokenizer;
  readonly #specialTokens: Record<string, string>;

  constructor(tokenizerJson: unknown, tokenizerConfig: unknown = {}, chatTemplate?: string) {
    if (tokenizerJson === null || typeof tokenizerJson !== "object") {
      throw new EngineError("ERR_TOKENIZER", "tokenizer.json is not a JSON object");
    }
    const config = (tokenizerConfig ?? {}) as Json;
    try {
      this.#tok = new Tokenizer(tokenizerJson, config);
    } catch (e) {
      throw new EngineError(
        "ERR_TOKENIZER",
        `tokenizer.json is unusable: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    this.bosToken = tokenContent(config["bos_token"]);
    this.eosToken = tokenContent(config["eos_token"]);
    this.bosTokenId =
      this.bosToken === undefined ? undefined : this.#tok.token_to_id(this.bosToken);
    this.eosTokenId =
      this.eosToken === undefined ? undefined : this.#tok.token_to_id(this.eosToken);
    this.vocabSize = this.#tok.get_vocab(true).size;
    const special: Record<string, string> = {};
    for (const name of ["bos_token", "eos_token", "unk_token", "pad_token"]) {
      const content = tokenContent(config[name]);
      if (content !== undefined) special[name] = content;
    }
    this.#specialTokens = special;
    const template = chatTemplate ?? pickTemplate(config["chat_template"]);
    this.chatTemplate = template === undefined ? undefined : new ChatTemplate(template);
  }

  encode(text: string, options: EncodeOptions = {}): Int32Array {
    try {
      const { ids } = this.#tok.encode(text, {
        add_special_tokens: options.addSpecialTokens ?? true,
      });
      return Int32Array.from(ids);
    } catch (e) {
      throw new EngineError("ERR_TOKENIZER", `encoding failed: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    if (ids.length === 0) return "";
    try {
      return this.#tok.decode(Array.from(ids), {
        skip_special_tokens: options.skipSpecialTokens ?? true,
      });
    } catch (e) {
      throw new EngineError("ERR_TOKENIZER", `decoding failed: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  tokenToId(token: string): number | undefined {
    return this.#tok.token_to_id(token);
  }

  /** Renders the chat template (bos/eos/unk/pad tokens available to it). ERR_CHAT_TEMPLATE without one. */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    if (this.chatTemplate === undefined) {
      throw new EngineError(
        "ERR_CHAT_TEMPLATE",
        "this tokenizer has no chat template (tokenizer_config.json chat_template or chat_template.jinja)",
      );
    }
    return this.chatTemplate.render(messages, {
      ...options,
      variables: { ...this.#specialTokens, ...options.variables },
    });
  }

  /** Renders the chat template and encodes it; the template already places any special tokens. */
  encodeChat(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): Int32Array {
    return this.encode(this.applyChatTemplate(messages, options), { addSpecialTokens: false });
  }
}

/** Reads tokenizer.json, tokenizer_config.json and chat_template.jinja (when present) from a model dir. */
export async function loadTokenizer(dir: ModelDir, signal?: AbortSignal): Promise<TextTokenizer> {
  if (isGgufModelDir(dir)) return loadGgufTokenizer(await dir.header(signal));
  const readJson = async (name: string): Promise<unknown> => {
    const text = await dir.readText(name, signal);
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new EngineError("ERR_TOKENIZER", `${dir.location}/${name}: ${(e as Error).message}`);
    }
  };
  if (!(await dir.has(TOKENIZER_FILE, signal))) {
    throw new EngineError("ERR_TOKENIZER", `${dir.location} has no ${TOKENIZER_FILE}`);
  }
  const [json, config, template] = await Promise.all([
    readJson(TOKENIZER_FILE),
    dir
      .has(TOKENIZER_CONFIG_FILE, signal)
      .then((ok) => (ok ? readJson(TOKENIZER_CONFIG_FILE) : {})),
    dir
      .has(CHAT_TEMPLATE_FILE, signal)
      .then((ok) => (ok ? dir.readText(CHAT_TEMPLATE_FILE, signal) : undefined)),
  ]);
  return new TextTokenizer(json, config, template);
}
