// `pipemesh serve`: wired to the mesh's node entry points (in progress).
import { CliError } from "../cli-error.ts";

export function serveCommand(_argv: readonly string[]): Promise<number> {
  return Promise.reject(new CliError("ERR_CLI_USAGE", "pipemesh serve is not wired yet"));
}
