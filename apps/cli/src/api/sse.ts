// Server-sent events as OpenAI streams them: `data: <json>` per chunk, no event names, `data: [DONE]` at
// the end; an error after the headers went out is one `data: {"error": ...}` event before [DONE].

import type { ServerResponse } from "node:http";
import { errorBody, type ApiError } from "./openai-error.ts";

export function startSse(res: ServerResponse): void {
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  res.flushHeaders();
}

export function sendEvent(res: ServerResponse, data: unknown): void {
  res.write(`data: ${JSON.stringify(data)}\n\n`);
}

export function endSse(res: ServerResponse, error?: ApiError): void {
  if (error !== undefined) sendEvent(res, errorBody(error));
  res.end("data: [DONE]\n\n");
}
