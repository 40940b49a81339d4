// Reads a request's JSON body (at most 4 MiB). Malformed JSON or a body that is too large is a 400 in
// OpenAI's error shape; a body that is not an object is the head's to reject.

import type { IncomingMessage } from "node:http";
import { apiError, type ApiError } from "./openai-error.ts";

const MAX_BODY_BYTES = 4 * 1024 * 1024;

export class BodyError extends Error {
  readonly api: ApiError;
  constructor(api: ApiError) {
    super(api.message);
    this.api = api;
  }
}

export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES)
      throw new BodyError(
        apiError(413, "invalid_request_error", "body_too_large", "the request body is too large"),
      );
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new BodyError(
      apiError(
        400,
        "invalid_request_error",
        "invalid_json",
        `the request body is not valid JSON: ${(e as Error).message}`,
      ),
    );
  }
}
