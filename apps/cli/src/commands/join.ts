// `pipemesh join`: wired to the mesh's node entry points (in progress).
import { CliError } from "../cli-error.ts";

export function joinCommand(_argv: readonly string[]): Promise<number> {
  return Promise.reject(new CliError("ERR_CLI_USAGE", "pipemesh join is not wired yet"));
}
