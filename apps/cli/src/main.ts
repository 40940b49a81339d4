// The pipemesh CLI: dispatches the subcommand and turns coded errors into a message and an exit code.
// Subcommands live in commands/; this file knows only their names.

import { CliError } from "./cli-error.ts";

const USAGE = `usage: pipemesh <command> [options]

commands:
  generate   generate text on one local peer or a local mesh of peers (--help for options)
  serve      run the signaling server and serve the web app and models (--port, --host)
  join       contribute this machine's GPU to a room: pipemesh join ROOM_URL [--memory-budget MB]
  cache      list or clear the weight cache: pipemesh cache ls|rm KEY|clear`;

type Command = (argv: readonly string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  generate: async () => (await import("./commands/generate.ts")).generateCommand,
  serve: async () => (await import("./commands/serve.ts")).serveCommand,
  join: async () => (await import("./commands/join.ts")).joinCommand,
  cache: async () => (await import("./commands/cache.ts")).cacheCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (load === undefined) {
    process.stderr.write(`pipemesh: unknown command "${name}"\n${USAGE}\n`);
    return 2;
  }
  try {
    return await (
      await load()
    )(rest);
  } catch (e) {
    return reportError(e);
  }
}

/** Prints a coded error (EngineError, MeshError, CliError all carry `code`); usage errors exit 2. */
export function reportError(e: unknown): number {
  const err = e instanceof Error ? e : new Error(String(e));
  const code = (err as { code?: unknown }).code;
  process.stderr.write(`pipemesh: ${err.message}\n`);
  if (process.env["PIPEMESH_DEBUG"] === "1" && err.stack !== undefined) {
    process.stderr.write(`${err.stack}\n`);
  }
  if (e instanceof CliError && e.code === "ERR_CLI_USAGE") return 2;
  return typeof code === "string" ? 1 : 70;
}
