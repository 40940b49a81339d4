// AppConfig: everything the web app can be configured with, in one place, and the only reader of
// import.meta.env. Build-time settings come from VITE_PIPEMESH_* variables; two automation switches come from
// the page's query string (tests on one machine). Network defaults are empty: ICE servers come from the
// signaling server unless configured here, and nothing falls back to a public STUN/TURN server.

import { signalUrl, type IceServer } from "@pipemesh/mesh";
import { AppError } from "./errors.ts";

export interface AppConfig {
  /** ws(s)://host/signal: this page's origin unless VITE_PIPEMESH_SIGNALING_URL says otherwise. */
  signalingUrl: string;
  /** Where public/models is served (VITE_PIPEMESH_MODELS_URL, default "/models/"). */
  modelsBaseUrl: string;
  /** VITE_PIPEMESH_ICE_SERVERS (JSON array); undefined: the ones the signaling server hands out. */
  iceServers: IceServer[] | undefined;
  /** Drop non-loopback ICE candidates (all peers on this machine, e.g. tests): `?loopback=1`. */
  loopbackOnly: boolean;
  /** Report this speed instead of running the speed test (automation): `?gflops=N`. */
  fixedGflops: number | undefined;
  /** Longest conversation the head plans for, capped by the model (tokens). */
  maxContextTokens: number;
  /**
   * A peer link that hears nothing for this long fails with ERR_PEER_LOST. Tabs get more slack than the
   * mesh's 2.5 s default (a busy or throttled main thread pauses heartbeats) and still report a vanished
   * peer within 5 s; a closed tab is noticed at once (its data channel closes).
   */
  peerTimeoutMs: number;
  /** Execution provider of an ONNX draft model: "wasm" (default) or "webgpu" or "auto". */
  draftProvider: "wasm" | "webgpu" | "auto";
  /**
   * Which draft model runs at the head: "auto" (the ONNX export on onnxruntime-web when there is one, else
   * the engine drafter), "ort" or "engine" (VITE_PIPEMESH_DRAFTER, or `?drafter=` for automation).
   */
  drafterKind: "auto" | "ort" | "engine";
}

/** The raw inputs: Vite's env object and the page URL. */
export interface ConfigSources {
  env: Readonly<Record<string, unknown>>;
  href: string;
}

/** The context the app plans for when a room names none (KV sizing itself is @pipemesh/head's). */
export const DEFAULT_MAX_CONTEXT_TOKENS = 2048;
export const DEFAULT_PEER_TIMEOUT_MS = 4000;

function envString(env: ConfigSources["env"], key: string): string | undefined {
  const v = env[key];
  return typeof v === "string" && v.trim() !== "" ? v.trim() : undefined;
}

function parseIceServers(text: string | undefined): IceServer[] | undefined {
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new AppError("ERR_APP_CONFIG", `VITE_PIPEMESH_ICE_SERVERS is not JSON: ${String(e)}`);
  }
  const ok =
    Array.isArray(json) &&
    json.every((s: unknown) => {
      if (s === null || typeof s !== "object") return false;
      const urls = (s as { urls?: unknown }).urls;
      return (
        typeof urls === "string" ||
        (Array.isArray(urls) && urls.every((u: unknown) => typeof u === "string"))
      );
    });
  if (!ok) {
    throw new AppError(
      "ERR_APP_CONFIG",
      'VITE_PIPEMESH_ICE_SERVERS must be a JSON array of {"urls": ..., "username"?, "credential"?}',
    );
  }
  return json as IceServer[];
}

export function parseConfig(src: ConfigSources): AppConfig {
  const page = new URL(src.href);
  const q = page.searchParams;
  const gflops = q.get("gflops");
  const fixedGflops = gflops === null ? undefined : Number(gflops);
  if (fixedGflops !== undefined && !(Number.isFinite(fixedGflops) && fixedGflops > 0)) {
    throw new AppError("ERR_APP_CONFIG", `?gflops= must be a positive number, got "${gflops}"`);
  }
  const provider = envString(src.env, "VITE_PIPEMESH_DRAFT_PROVIDER") ?? "wasm";
  if (provider !== "wasm" && provider !== "webgpu" && provider !== "auto") {
    throw new AppError("ERR_APP_CONFIG", `VITE_PIPEMESH_DRAFT_PROVIDER: unknown "${provider}"`);
  }
  const drafter = q.get("drafter") ?? envString(src.env, "VITE_PIPEMESH_DRAFTER") ?? "auto";
  if (drafter !== "auto" && drafter !== "ort" && drafter !== "engine") {
    throw new AppError("ERR_APP_CONFIG", `drafter must be auto, ort or engine, got "${drafter}"`);
  }
  const loopbackEnv = envString(src.env, "VITE_PIPEMESH_LOOPBACK_ONLY");
  return {
    signalingUrl: envString(src.env, "VITE_PIPEMESH_SIGNALING_URL") ?? signalUrl(page.origin),
    modelsBaseUrl: new URL(envString(src.env, "VITE_PIPEMESH_MODELS_URL") ?? "/models/", page.href)
      .href,
    iceServers: parseIceServers(envString(src.env, "VITE_PIPEMESH_ICE_SERVERS")),
    loopbackOnly: q.get("loopback") === "1" || loopbackEnv === "1",
    fixedGflops,
    maxContextTokens: DEFAULT_MAX_CONTEXT_TOKENS,
    peerTimeoutMs: DEFAULT_PEER_TIMEOUT_MS,
    draftProvider: provider,
    drafterKind: drafter,
  };
}

/** The page's configuration (reads import.meta.env and location once per call). */
export function loadAppConfig(): AppConfig {
  return parseConfig({ env: import.meta.env, href: location.href });
}
