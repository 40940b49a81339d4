// CliError: a usage or setup problem the CLI reports with a code and exits non-zero (exit code 2 for usage).
// Engine and mesh failures keep their own EngineError / MeshError codes and are printed as they are.

export type CliErrorCode =
  "ERR_CLI_USAGE" | "ERR_CLI_MODEL" | "ERR_CLI_PEER" | "ERR_MODEL_SOURCE" | "ERR_ROOM_STAGES";

export class CliError extends Error {
  override readonly name = "CliError";
  readonly code: CliErrorCode;

  constructor(code: CliErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}
