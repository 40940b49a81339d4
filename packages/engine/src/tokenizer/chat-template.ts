// ChatTemplate: a Hugging Face chat template (Jinja) compiled once through @huggingface/jinja and rendered
// with messages, add_generation_prompt and the special tokens. Errors are ERR_CHAT_TEMPLATE.
// Not a tokenizer: the caller encodes the rendered text.

import { Template } from "@huggingface/jinja";
import { EngineError } from "../errors.ts";

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatTemplateOptions {
  /** Append the assistant turn's opening (default true: the model is about to answer). */
  addGenerationPrompt?: boolean | undefined;
  /** More template variables (bos_token etc. are supplied by TextTokenizer). */
  variables?: Record<string, unknown> | undefined;
}

export class ChatTemplate {
  readonly source: string;
  readonly #template: Template;

  constructor(source: string) {
    this.source = source;
    try {
      this.#template = new Template(source);
    } catch (e) {
      throw new EngineError(
        "ERR_CHAT_TEMPLATE",
        `the chat template does not parse: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
  }

  render(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    try {
      return this.#template.render({
        ...options.variables,
        messages: messages.map((m) => ({ ...m })),
        add_generation_prompt: options.addGenerationPrompt ?? true,
      });
    } catch (e) {
      throw new EngineError(
        "ERR_CHAT_TEMPLATE",
        `the chat template failed: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
  }
}
