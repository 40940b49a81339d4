// Turns the CLI's prompt options into token ids: --prompt-ids as given, --prompt through the tokenizer,
// --chat through the model's chat template (as the web chat does).

import type { TextTokenizer } from "@pipemesh/engine";
import { CliError } from "../cli-error.ts";

export interface PromptOptions {
  prompt: string | undefined;
  promptIds: number[] | undefined;
  chat: boolean;
  system: string | undefined;
}

export function promptTokens(opts: PromptOptions, tokenizer: TextTokenizer | undefined): number[] {
  if (opts.promptIds !== undefined) return opts.promptIds;
  if (tokenizer === undefined) {
    throw new CliError(
      "ERR_CLI_MODEL",
      "--prompt needs the model's tokenizer.json; use --prompt-ids",
    );
  }
  const text = opts.prompt ?? "";
  if (!opts.chat) return Array.from(tokenizer.encode(text));
  const messages = [
    ...(opts.system === undefined ? [] : [{ role: "system", content: opts.system }]),
    { role: "user", content: text },
  ];
  return Array.from(tokenizer.encodeChat(messages, { addGenerationPrompt: true }));
}
