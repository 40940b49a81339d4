// `GET /models/served.json` on a server pipemesh owns: the models the server makes rooms for (their room
// descriptions), so the landing page can offer a room for each. An empty list where the server names no
// models. Public like the models themselves; never includes secrets or room ids.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { ModelInfo } from "../protocol/messages.ts";

export const SERVED_INDEX_PATH = "/models/served.json";

/** Answers the index request and returns true, or returns false for any other request. */
export function answerServedIndex(
  req: IncomingMessage,
  res: ServerResponse,
  models: readonly ModelInfo[],
): boolean {
  if ((req.url ?? "/").split("?")[0] !== SERVED_INDEX_PATH) return false;
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  res.writeHead(200, {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    "cross-origin-resource-policy": "same-origin",
  });
  res.end(req.method === "HEAD" ? undefined : JSON.stringify({ models }));
  return true;
}
