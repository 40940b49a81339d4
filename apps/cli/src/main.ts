// The pipemesh CLI: parses the subcommand and dispatches. Returns the process exit code.
export async function main(argv: string[]): Promise<number> {
  const [cmd] = argv;
  process.stderr.write(`pipemesh: unknown command ${cmd ?? "(none)"}\n`);
  return Promise.resolve(2);
}
