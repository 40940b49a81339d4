// --peers N > 1: a local signaling server, N peer processes holding the layers, and this process as the
// head (embeddings only), connected over real WebRTC on 127.0.0.1.

import type { ModelConfig } from "@pipemesh/engine";
import type { PipelinePort } from "@pipemesh/mesh";
import type { GenerateOptions } from "../args.ts";
import { CliError } from "../cli-error.ts";
import type { PlanEntry } from "./result-json.ts";

export function openMeshPipeline(
  _opts: GenerateOptions,
  _model: string,
  _config: ModelConfig,
  _s: unknown,
): Promise<{ pipeline: PipelinePort; plan: PlanEntry[]; destroyPipeline: () => Promise<void> }> {
  return Promise.reject(new CliError("ERR_CLI_PEER", "--peers > 1 is not wired yet"));
}
