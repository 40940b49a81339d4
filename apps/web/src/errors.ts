// AppError: the web app's own coded errors (configuration, model files, WebGPU probe), and codeOf(), which
// reads the code of any error the app shows (AppError, the engine's EngineError, the mesh's MeshError).
// Engine and mesh failures keep their own codes; this file never renames them.

export const APP_ERROR_CODES = [
  "ERR_APP_CONFIG", // a VITE_PIPEMESH_* variable or query switch is malformed
  "ERR_MODEL_LOAD", // the room's model files could not be found, read or loaded
  "ERR_ROUTE", // the URL is not a page of this app (e.g. a room link without its secret)
  "ERR_APP_INTERNAL",
] as const;

export type AppErrorCode = (typeof APP_ERROR_CODES)[number];

export class AppError extends Error {
  override readonly name = "AppError";
  readonly code: AppErrorCode;

  constructor(code: AppErrorCode, message: string, options?: { cause?: unknown }) {
    super(
      `${code}: ${message}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
  }
}

const CODE = /^ERR_[A-Z0-9_]+$/;

/** The error's code (EngineError, MeshError, AppError or a "ERR_X: ..." message), else ERR_APP_INTERNAL. */
export function codeOf(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === "string" && CODE.test(code)) return code;
  const m = /^(?:\w+Error: )?(ERR_[A-Z0-9_]+)\b/.exec(e instanceof Error ? e.message : String(e));
  return m?.[1] ?? "ERR_APP_INTERNAL";
}

/** The message without its leading "ERR_X: " (the code is shown next to it). */
export function messageOf(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.replace(/^ERR_[A-Z0-9_]+: /, "");
}
