// The API's bearer key: with a key configured (--api-key or PIPEMESH_API_KEY), a request needs
// `Authorization: Bearer KEY` (compared in constant time); without one, any Authorization header is ignored.

import type { IncomingMessage } from "node:http";
import { createHash, timingSafeEqual } from "node:crypto";

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

export function authorized(req: IncomingMessage, key: string | undefined): boolean {
  if (key === undefined) return true;
  const header = req.headers.authorization ?? "";
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  if (m === null) return false;
  return timingSafeEqual(digest(m[1] ?? ""), digest(key));
}
