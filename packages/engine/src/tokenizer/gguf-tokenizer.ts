// A TextTokenizer from a GGUF file's `tokenizer.ggml.*` metadata: builds the tokenizer.json object that
// @huggingface/tokenizers reads (byte-level BPE for model "gpt2", with the pre-tokenizer regex named by
// `pre`; SentencePiece-style BPE with byte fallback and Metaspace for model "llama", merges derived from
// the scores as transformers' GGUF converter does), plus special tokens and the chat template.
// Not a tokenizer implementation: encoding and decoding are the library's.

import { EngineError } from "../errors.ts";
import {
  type GgufHeader,
  ggufBool,
  ggufInt,
  ggufNumberArray,
  ggufString,
  ggufStringArray,
} from "../loader/gguf/gguf-header.ts";
import { TextTokenizer } from "./text-tokenizer.ts";

const CODE = "ERR_TOKENIZER";

/** tokenizer.ggml.token_type values. */
export const GGUF_TOKEN_TYPE = {
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;

const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

type Json = Record<string, unknown>;

interface PreTokenizerChoice {
  /** Which regex family was used ("gpt2" for the fallback). */
  name: "llama3" | "qwen2" | "smollm" | "gpt2";
  preTokenizer: Json;
  normalizer: Json | null;
  ignoreMerges: boolean;
  addBosByDefault: boolean;
}

const BYTE_LEVEL_NO_REGEX = {
  type: "ByteLevel",
  add_prefix_space: false,
  trim_offsets: true,
  use_regex: false,
};

function splitThenBytes(regex: string): Json {
  return {
    type: "Sequence",
    pretokenizers: [
      { type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false },
      BYTE_LEVEL_NO_REGEX,
    ],
  };
}

/** The pre-tokenizer for a `tokenizer.ggml.pre` name; unknown names and "default" fall back to GPT-2's. */
export function ggufPreTokenizer(pre: string | undefined): PreTokenizerChoice {
  switch (pre ?? "default") {
    case "llama3":
    case "llama-v3":
    case "llama-bpe":
    case "falcon3":
      return {
        name: "llama3",
        preTokenizer: splitThenBytes(LLAMA3_REGEX),
        normalizer: null,
        ignoreMerges: true,
        addBosByDefault: true,
      };
    case "qwen2":
    case "deepseek-r1-qwen":
      return {
        name: "qwen2",
        preTokenizer: splitThenBytes(QWEN2_REGEX),
        normalizer: { type: "NFC" },
        ignoreMerges: false,
        addBosByDefault: false,
      };
    case "smollm":
      return {
        name: "smollm",
        preTokenizer: {
          type: "Sequence",
          pretokenizers: [
            { type: "Digits", individual_digits: true },
            { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
          ],
        },
        normalizer: null,
        ignoreMerges: false,
        addBosByDefault: false,
      };
    default:
      return {
        name: "gpt2",
        preTokenizer: {
          type: "ByteLevel",
          add_prefix_space: false,
          trim_offsets: true,
          use_regex: true,
        },
        normalizer: null,
        ignoreMerges: false,
        addBosByDefault: false,
      };
  }
}

interface Vocab {
  tokens: readonly string[];
  types: readonly number[] | undefined;
  ids: Record<"bos" | "eos" | "unk" | "pad" | "eot" | "eom", number | undefined>;
}

function fail(header: GgufHeader, detail: string): EngineError {
  return new EngineError(CODE, `${header.location}: ${detail}`);
}

function readVocab(header: GgufHeader): Vocab {
  const tokens = ggufStringArray(header, "tokenizer.ggml.tokens", CODE);
  if (tokens === undefined || tokens.length === 0) {
    throw fail(header, "GGUF metadata tokenizer.ggml.tokens is missing or empty");
  }
  const types = ggufNumberArray(header, "tokenizer.ggml.token_type", CODE);
  if (types !== undefined && types.length !== tokens.length) {
    throw fail(
      header,
      `tokenizer.ggml.token_type has ${types.length} entries for ${tokens.length} tokens`,
    );
  }
  const id = (name: string): number | undefined => {
    const key = `tokenizer.ggml.${name}_token_id`;
    const v = ggufInt(header, key, CODE);
    if (v !== undefined && (v < 0 || v >= tokens.length)) {
      throw fail(header, `${key} is ${v}, outside the ${tokens.length}-token vocabulary`);
    }
    return v;
  };
  return {
    tokens,
    types,
    ids: {
      bos: id("bos"),
      eos: id("eos"),
      unk: id("unknown"),
      pad: id("padding"),
      eot: id("eot"),
      eom: id("eom"),
    },
  };
}

/** token → first id holding it (a GGUF vocabulary may repeat a string; the first wins). */
function vocabObject(tokens: readonly string[]): Record<string, number> {
  const map = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (!map.has(t)) map.set(t, i);
  });
  return Object.fromEntries(map);
}

function addedTokens(v: Vocab): Json[] {
  const special = new Set<number>();
  for (const id of Object.values(v.ids)) if (id !== undefined) special.add(id);
  const out: Json[] = [];
  v.tokens.forEach((content, id) => {
    const type = v.types?.[id];
    const isSpecial =
      special.has(id) || type === GGUF_TOKEN_TYPE.control || type === GGUF_TOKEN_TYPE.unknown;
    if (!isSpecial && type !== GGUF_TOKEN_TYPE.userDefined) return;
    out.push({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: isSpecial,
    });
  });
  return out;
}

function postProcessor(v: Vocab, addBos: boolean, addEos: boolean): Json | null {
  const bos = addBos && v.ids.bos !== undefined ? v.ids.bos : undefined;
  const eos = addEos && v.ids.eos !== undefined ? v.ids.eos : undefined;
  if (bos === undefined && eos === undefined) return null;
  const specialTokens: Json = {};
  const item = (id: number): Json => {
    const content = v.tokens[id] ?? "";
    specialTokens[content] = { id: content, ids: [id], tokens: [content] };
    return { SpecialToken: { id: content, type_id: 0 } };
  };
  const seq = (id: "A" | "B"): Json => ({ Sequence: { id, type_id: 0 } });
  const wrap = (s: Json): Json[] => [
    ...(bos === undefined ? [] : [item(bos)]),
    s,
    ...(eos === undefined ? [] : [item(eos)]),
  ];
  return {
    type: "TemplateProcessing",
    single: wrap(seq("A")),
    pair: [...wrap(seq("A")), ...wrap(seq("B"))],
    special_tokens: specialTokens,
  };
}

function bpeMerges(header: GgufHeader): [string, string][] {
  const merges = ggufStringArray(header, "tokenizer.ggml.merges", CODE);
  if (merges === undefined) {
    throw fail(header, 'tokenizer.ggml.model "gpt2" needs tokenizer.ggml.merges, which is absent');
  }
  return merges.map((m, i) => {
    const at = m.indexOf(" ", 1);
    if (at < 0) throw fail(header, `tokenizer.ggml.merges[${i}] ${JSON.stringify(m)} has no space`);
    return [m.slice(0, at), m.slice(at + 1)];
  });
}

function isByteToken(token: string, type: number | undefined): boolean {
  return type === GGUF_TOKEN_TYPE.byte || /^<0x[0-9A-Fa-f]{2}>$/.test(token);
}

/**
 * BPE merges of a SentencePiece vocabulary from its scores (transformers' GGUF converter and tokenizers'
 * SentencePieceExtractor): every split of a normal token into two normal tokens, ordered by the merged
 * token's score (highest first), then longer left part, longer right part, then vocabulary order.
 */
export function mergesFromScores(
  tokens: readonly string[],
  scores: readonly number[],
  types: readonly number[] | undefined,
): [string, string][] {
  const mergeable = (id: number): boolean => {
    const t = types?.[id];
    return (t === undefined || t === GGUF_TOKEN_TYPE.normal) && !isByteToken(tokens[id] ?? "", t);
  };
  const ids = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (mergeable(i) && !ids.has(t)) ids.set(t, i);
  });
  const found: { l: string; r: string; score: number; lId: number; rId: number; order: number }[] =
    [];
  tokens.forEach((t, id) => {
    if (!mergeable(id) || ids.get(t) !== id) return;
    const local: (typeof found)[number][] = [];
    for (let k = 1; k < t.length; k++) {
      const l = t.slice(0, k);
      const r = t.slice(k);
      const lId = ids.get(l);
      const rId = ids.get(r);
      if (lId !== undefined && rId !== undefined) {
        local.push({ l, r, score: scores[id] ?? 0, lId, rId, order: 0 });
      }
    }
    local.sort((a, b) => a.lId - b.lId || a.rId - b.rId);
    for (const m of local) {
      m.order = found.length;
      found.push(m);
    }
  });
  found.sort(
    (a, b) =>
      b.score - a.score || b.l.length - a.l.length || b.r.length - a.r.length || a.order - b.order,
  );
  return found.map((m) => [m.l, m.r]);
}

export interface GgufTokenizerParts {
  /** The tokenizer.json object for @huggingface/tokenizers. */
  tokenizerJson: Json;
  /** The tokenizer_config.json-like object TextTokenizer takes (special token strings). */
  tokenizerConfig: Json;
  chatTemplate: string | undefined;
  /** "spm" or the byte-level BPE pre-tokenizer used ("gpt2" when `pre` was unknown or default). */
  kind: "spm" | PreTokenizerChoice["name"];
}

/** Builds the tokenizer.json object (and its config) from the GGUF metadata. */
export function ggufTokenizerParts(header: GgufHeader): GgufTokenizerParts {
  const model = ggufString(header, "tokenizer.ggml.model", CODE);
  if (model !== "gpt2" && model !== "llama") {
    throw fail(
      header,
      model === undefined
        ? "GGUF metadata tokenizer.ggml.model is absent"
        : `tokenizer.ggml.model ${JSON.stringify(model)} is not supported (supported: gpt2, llama)`,
    );
  }
  const v = readVocab(header);
  const vocab = vocabObject(v.tokens);
  const addEos = ggufBool(header, "tokenizer.ggml.add_eos_token", CODE) ?? false;
  const unk = v.ids.unk === undefined ? null : (v.tokens[v.ids.unk] ?? null);
  let json: Json;
  let kind: GgufTokenizerParts["kind"];
  if (model === "gpt2") {
    const pre = ggufPreTokenizer(ggufString(header, "tokenizer.ggml.pre", CODE));
    const addBos = ggufBool(header, "tokenizer.ggml.add_bos_token", CODE) ?? pre.addBosByDefault;
    kind = pre.name;
    json = {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: addedTokens(v),
      normalizer: pre.normalizer,
      pre_tokenizer: pre.preTokenizer,
      post_processor: postProcessor(v, addBos, addEos),
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: unk,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: pre.ignoreMerges,
        vocab,
        merges: bpeMerges(header),
      },
    };
  } else {
    const addBos = ggufBool(header, "tokenizer.ggml.add_bos_token", CODE) ?? true;
    const addSpace = ggufBool(header, "tokenizer.ggml.add_space_prefix", CODE) ?? true;
    const given = header.metadata.has("tokenizer.ggml.merges") ? bpeMerges(header) : undefined;
    let merges = given;
    if (merges === undefined) {
      const scores = ggufNumberArray(header, "tokenizer.ggml.scores", CODE);
      if (scores === undefined || scores.length !== v.tokens.length) {
        throw fail(
          header,
          `tokenizer.ggml.model "llama" needs tokenizer.ggml.scores with one score per token (${v.tokens.length})`,
        );
      }
      merges = mergesFromScores(v.tokens, scores, v.types);
    }
    kind = "spm";
    json = {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: addedTokens(v),
      normalizer: null,
      pre_tokenizer: {
        type: "Metaspace",
        replacement: "▁",
        prepend_scheme: addSpace ? "first" : "never",
        split: false,
      },
      post_processor: postProcessor(v, addBos, addEos),
      decoder: {
        type: "Sequence",
        decoders: [
          { type: "Replace", pattern: { String: "▁" }, content: " " },
          { type: "ByteFallback" },
          { type: "Fuse" },
          ...(addSpace ? [{ type: "Strip", content: " ", start: 1, stop: 0 }] : []),
        ],
      },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: unk,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: true,
        byte_fallback: true,
        ignore_merges: false,
        vocab,
        merges,
      },
    };
  }
  const config: Json = { clean_up_tokenization_spaces: false };
  const tokenOf = (id: number | undefined): string | undefined =>
    id === undefined ? undefined : v.tokens[id];
  for (const [name, id] of [
    ["bos_token", v.ids.bos],
    ["eos_token", v.ids.eos],
    ["unk_token", v.ids.unk],
    ["pad_token", v.ids.pad],
  ] as const) {
    const content = tokenOf(id);
    if (content !== undefined) config[name] = content;
  }
  return {
    tokenizerJson: json,
    tokenizerConfig: config,
    chatTemplate: ggufString(header, "tokenizer.chat_template", CODE),
    kind,
  };
}

/** The TextTokenizer of a GGUF file (its chat template from `tokenizer.chat_template`). */
export function ggufTextTokenizer(header: GgufHeader): TextTokenizer {
  const parts = ggufTokenizerParts(header);
  return new TextTokenizer(parts.tokenizerJson, parts.tokenizerConfig, parts.chatTemplate);
}

/** ggufTextTokenizer as a promise, the shape of loadTokenizer. */
export function loadGgufTokenizer(header: GgufHeader): Promise<TextTokenizer> {
  try {
    return Promise.resolve(ggufTextTokenizer(header));
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}
