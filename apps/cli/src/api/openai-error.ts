// OpenAI's error envelope {error: {message, type, param, code}} with the HTTP status a failure maps to:
// bad requests 400, unsupported parameters 400, a wrong key 401, unknown routes and models 404, no
// contributors 503 (with Retry-After). Writing only; deciding what failed is the callers'.

import type { ServerResponse } from "node:http";
import { isHeadError } from "@pipemesh/head";

export interface ApiError {
  status: number;
  type: string;
  code: string | null;
  message: string;
  param: string | null;
}

export function apiError(
  status: number,
  type: string,
  code: string | null,
  message: string,
  param: string | null = null,
): ApiError {
  return { status, type, code, message, param };
}

/** Any thrown value as an ApiError: coded head and mesh errors keep their message and code. */
export function toApiError(e: unknown): ApiError {
  if (isHeadError(e)) {
    const code = e.code === "ERR_UNSUPPORTED" ? "unsupported_parameter" : "invalid_value";
    return apiError(400, "invalid_request_error", code, e.message, e.param);
  }
  const err = e as { code?: unknown; message?: unknown };
  const code = typeof err.code === "string" ? err.code : null;
  const message = typeof err.message === "string" ? err.message : String(e);
  if (code === "ERR_CONTEXT_LENGTH")
    return apiError(400, "invalid_request_error", "context_length_exceeded", message, "messages");
  if (code === "ERR_TIMEOUT" || code === "ERR_PEER_LOST" || code === "ERR_PLAN_IMPOSSIBLE")
    return apiError(503, "server_error", code, message);
  return apiError(500, "server_error", code, message);
}

export function errorBody(e: ApiError): { error: Omit<ApiError, "status"> } {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}

export function sendError(res: ServerResponse, e: ApiError): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (e.status === 503) headers["retry-after"] = "1";
  if (e.status >= 400 && e.status < 500) headers["x-should-retry"] = "false";
  res.writeHead(e.status, headers).end(JSON.stringify(errorBody(e)));
}
