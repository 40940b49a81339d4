// Where `join` and `generate --room` take a room URL from. The URL carries the room's secret, so it is best
// given in PIPEMESH_ROOM_URL or on stdin ("-"), where `ps` cannot see it; a URL on this process's command
// line works but is warned about. Reads stdin synchronously (its first line), so option parsing can
// resolve the URL in one pass.

import { readSync } from "node:fs";

export const ROOM_URL_ENV = "PIPEMESH_ROOM_URL";

/** What roomUrlFrom reads and writes (tests replace them). */
export interface RoomUrlIo {
  env?: NodeJS.ProcessEnv;
  /** This process's command line (the warning is only for a URL that is really on it). */
  argv?: readonly string[];
  readStdinLine?: () => string;
  warn?: (line: string) => void;
}

/**
 * The room URL from `arg`: "-" reads stdin's first line; undefined or "" reads PIPEMESH_ROOM_URL; anything
 * else is the URL itself, with a warning on stderr when it is on this process's command line. null when
 * stdin or the environment gives nothing (the caller answers with its usage).
 */
export function roomUrlFrom(
  arg: string | undefined,
  command: string,
  io: RoomUrlIo = {},
): string | null {
  if (arg === "-") {
    const line = (io.readStdinLine ?? readStdinLineSync)();
    return line === "" ? null : line;
  }
  if (arg !== undefined && arg !== "") {
    if ((io.argv ?? process.argv).includes(arg)) {
      (io.warn ?? ((l: string) => void process.stderr.write(l)))(
        `pipemesh ${command}: the room URL on the command line is visible to other users in ps; pass it in ${ROOM_URL_ENV} or on stdin (-)\n`,
      );
    }
    return arg;
  }
  const env = (io.env ?? process.env)[ROOM_URL_ENV];
  return env === undefined || env.trim() === "" ? null : env.trim();
}

/** The first line of stdin (trimmed), read synchronously; "" at end of input. */
export function readStdinLineSync(): string {
  const buf = Buffer.alloc(4096);
  const parts: Buffer[] = [];
  let size = 0;
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EAGAIN") {
        // stdin is non-blocking (a parent made it so): wait for input without spinning.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        continue;
      }
      if ((e as NodeJS.ErrnoException).code === "EOF") break;
      throw e;
    }
    if (n === 0) break;
    parts.push(Buffer.from(buf.subarray(0, n)));
    size += n;
    if (buf.subarray(0, n).includes(10) || size > 64 * 1024) break;
  }
  return Buffer.concat(parts).toString("utf8").split("\n")[0]?.trim() ?? "";
}
