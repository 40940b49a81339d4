// `pipemesh serve`'s network flags: TLS certificate and key, --behind-proxy, allowed origins, connection
// caps and the create token, as parseArgs options and as startSignalingServer options. Validation errors
// are CliError ERR_CLI_USAGE naming the flag; the only I/O is reading the certificate files.

import { readFileSync } from "node:fs";
import type { SignalingServerOptions } from "@pipemesh/mesh/node";
import { CliError } from "./cli-error.ts";

export const EXPOSURE_USAGE = `  [--tls-cert PEM --tls-key PEM | --behind-proxy] (required for a non-loopback --host)
  [--allowed-origin ORIGIN]... [--max-connections N] [--max-connections-per-address N]
  [--create-token TOKEN] (better: PIPEMESH_CREATE_TOKEN) creating rooms needs this token`;

export const EXPOSURE_OPTIONS = {
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "behind-proxy": { type: "boolean" },
  "allowed-origin": { type: "string", multiple: true },
  "max-connections": { type: "string" },
  "max-connections-per-address": { type: "string" },
  "create-token": { type: "string" },
} as const;

interface ExposureValues {
  "tls-cert"?: string | undefined;
  "tls-key"?: string | undefined;
  "behind-proxy"?: boolean | undefined;
  "allowed-origin"?: string[] | undefined;
  "max-connections"?: string | undefined;
  "max-connections-per-address"?: string | undefined;
  "create-token"?: string | undefined;
}

function positiveInt(flag: string, s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1)
    throw new CliError("ERR_CLI_USAGE", `--${flag} must be a positive integer`);
  return n;
}

function readPem(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new CliError("ERR_CLI_USAGE", `--${flag}: cannot read ${path}: ${(e as Error).message}`);
  }
}

export function exposureOptions(v: ExposureValues): Partial<SignalingServerOptions> {
  const out: Partial<SignalingServerOptions> = {};
  const cert = v["tls-cert"];
  const key = v["tls-key"];
  if ((cert === undefined) !== (key === undefined))
    throw new CliError("ERR_CLI_USAGE", "--tls-cert and --tls-key go together");
  if (cert !== undefined && key !== undefined)
    out.tls = { cert: readPem("tls-cert", cert), key: readPem("tls-key", key) };
  if (v["behind-proxy"] === true) out.behindProxy = true;
  const origins = v["allowed-origin"] ?? [];
  for (const o of origins) {
    let u: URL | null = null;
    try {
      u = new URL(o);
    } catch {
      // reported below
    }
    if (
      u === null ||
      (u.protocol !== "http:" && u.protocol !== "https:") ||
      u.origin !== o.replace(/\/$/, "")
    )
      throw new CliError(
        "ERR_CLI_USAGE",
        `--allowed-origin must be an origin like https://host[:port], got "${o}"`,
      );
  }
  if (origins.length > 0) out.allowedOrigins = origins;
  const max = positiveInt("max-connections", v["max-connections"]);
  if (max !== undefined) out.maxConnections = max;
  const perAddress = positiveInt("max-connections-per-address", v["max-connections-per-address"]);
  if (perAddress !== undefined) out.maxConnectionsPerAddress = perAddress;
  const token = v["create-token"] ?? process.env["PIPEMESH_CREATE_TOKEN"];
  if (token !== undefined && token !== "") out.createToken = token;
  return out;
}
