// HeadError: the head's coded failures (a bad request, an unsupported parameter, a missing tokenizer,
// model files a browser head cannot find or read).
// `param` names the request field at fault, as OpenAI's error body does. Not an HTTP mapping: the API
// layer chooses statuses from the code.

export type HeadErrorCode =
  | "ERR_BAD_REQUEST"
  | "ERR_UNSUPPORTED"
  | "ERR_NO_TOKENIZER"
  | "ERR_HEAD_DESTROYED"
  | "ERR_MODEL_LOAD";

export class HeadError extends Error {
  readonly code: HeadErrorCode;
  readonly param: string | null;

  constructor(code: HeadErrorCode, message: string, param: string | null = null) {
    super(message);
    this.name = "HeadError";
    this.code = code;
    this.param = param;
  }
}

export function isHeadError(e: unknown, code?: HeadErrorCode): e is HeadError {
  return e instanceof HeadError && (code === undefined || e.code === code);
}
