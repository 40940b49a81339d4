// `pipemesh serve`: the signaling server plus the built web app (dist/), the models under public/ and any
// --model directories or .gguf files, on one port (127.0.0.1 unless --host). Creates a room per --model
// (or for the embedded default model when none is given) and prints each room's URL. Also serves the
// OpenAI-compatible API (apps/cli/src/api) with this process as each room's head.

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { roomUrl } from "@pipemesh/mesh";
import { createStaticHandler, startSignalingServer } from "@pipemesh/mesh/node";
import { OpenAiApi } from "../api/router.ts";
import type { ApiRoom } from "../api/room-heads.ts";
import { CliError } from "../cli-error.ts";
import { readDefaultPair, PUBLIC_MODELS_DIR } from "../head/models.ts";
import { modelInfoFor } from "../head/model-info.ts";
import { servedModels } from "../head/served-models.ts";
import {
  openServedModel,
  servedModelsHandler,
  servedSource,
  type ServedModel,
} from "../head/served-sources.ts";
import { EXPOSURE_OPTIONS, EXPOSURE_USAGE, exposureOptions } from "../serve-exposure.ts";

const USAGE = `usage: pipemesh serve [--model PATH ...] [--port 8787] [--host 127.0.0.1] [--ice-servers JSON] [--no-room]
  --model SPEC     a model to serve, one room each (repeatable; default: the embedded pair): a Hugging
                   Face directory, a .gguf file, an http(s) URL, or hf:OWNER/REPO[@REVISION][/FILE.gguf]
                   (through HF_ENDPOINT; files that need HF_TOKEN are passed through this server)
  --draft SPEC     the draft model of the --model in the same position (its room's heads draft with it)
  --ctx N          context length of the rooms' models in tokens (default: each model's, at most 4096)
  --api-key KEY    (better: PIPEMESH_API_KEY) the OpenAI-compatible API under /v1 needs
                   "Authorization: Bearer KEY" (required for a non-loopback --host)
${EXPOSURE_USAGE}`;
/**
 * The built web app: in a clone (this file is the .ts source) the repository's dist/ that `npm run build`
 * writes, never an older copy; in an installed CLI (built JavaScript) the dist/ of the installed
 * @pipemesh/web package, which its prepack builds (tools/pack/build-web.mjs).
 */
const DIST_DIR = import.meta.url.endsWith(".ts")
  ? fileURLToPath(new URL("../../../../dist/", import.meta.url))
  : fileURLToPath(new URL("./dist/", import.meta.resolve("@pipemesh/web/package.json")));
const PUBLIC_DIR = fileURLToPath(new URL("../", `file://${PUBLIC_MODELS_DIR}`));
/** The room made here stays open while empty for this long (the printed URL should keep working). */
const EMPTY_ROOM_TTL_MS = 24 * 60 * 60 * 1000;

export async function serveCommand(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        port: { type: "string" },
        host: { type: "string" },
        "ice-servers": { type: "string" },
        "no-room": { type: "boolean" },
        model: { type: "string", multiple: true },
        draft: { type: "string", multiple: true },
        ctx: { type: "string" },
        "api-key": { type: "string" },
        ...EXPOSURE_OPTIONS,
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw new CliError("ERR_CLI_USAGE", `${(e as Error).message}\n${USAGE}`);
  }
  const v = parsed.values;
  if (v.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const port = Number(v.port ?? 8787);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new CliError("ERR_CLI_USAGE", `--port must be 0..65535, got "${v.port}"`);
  }
  let iceServers: { urls: string | string[]; username?: string; credential?: string }[] = [];
  if (v["ice-servers"] !== undefined) {
    try {
      iceServers = JSON.parse(v["ice-servers"]) as typeof iceServers;
      if (!Array.isArray(iceServers)) throw new Error("not an array");
    } catch (e) {
      throw new CliError(
        "ERR_CLI_USAGE",
        `--ice-servers must be a JSON array: ${(e as Error).message}`,
      );
    }
  }
  if (!existsSync(`${DIST_DIR}index.html`)) {
    process.stderr.write(
      "pipemesh serve: the web app is not built (run `npm run build`); serving models and signaling only\n",
    );
  }
  const ctx = v.ctx === undefined ? undefined : Number(v.ctx);
  if (ctx !== undefined && !(Number.isInteger(ctx) && ctx >= 16)) {
    throw new CliError("ERR_CLI_USAGE", `--ctx must be an integer >= 16, got "${v.ctx}"`);
  }
  const local: ServedModel[] = [];
  const taken = new Set<string>();
  const drafts: ServedModel[] = [];
  const draftSpecs = v.draft ?? [];
  if (draftSpecs.length > (v.model ?? []).length) {
    throw new CliError(
      "ERR_CLI_USAGE",
      "each --draft goes with a --model (the i-th draft with the i-th model)",
    );
  }
  for (const [i, spec] of (v.model ?? []).entries()) {
    const m = await openServedModel(spec, taken, ctx);
    taken.add(m.id);
    const draftSpec = draftSpecs[i];
    if (draftSpec !== undefined) {
      const d = await openServedModel(draftSpec, taken, ctx);
      taken.add(d.id);
      drafts.push(d);
      m.info.draft = { id: d.id, source: servedSource(d) };
    }
    local.push(m);
  }
  const publicModels = await servedModels(PUBLIC_MODELS_DIR);
  const served = [...local.map((m) => m.info), ...publicModels.filter((p) => !taken.has(p.id))];
  const apiKey = v["api-key"] ?? process.env["PIPEMESH_API_KEY"];
  const api = new OpenAiApi({
    apiKey: apiKey === undefined || apiKey === "" ? undefined : apiKey,
    log: (m) => process.stderr.write(`${m}\n`),
  });
  const server = await startSignalingServer({
    ...exposureOptions(v),
    host: v.host ?? "127.0.0.1",
    port,
    iceServers,
    models: served,
    connectOrigins: connectOriginsOf([...local, ...drafts]),
    api: { keyed: apiKey !== undefined && apiKey !== "" },
    http: api.handler(
      servedModelsHandler(
        [...local, ...drafts],
        createStaticHandler({ roots: [DIST_DIR, PUBLIC_DIR], spaFallback: "/index.html" }),
      ),
    ),
  });
  process.stdout.write(`pipemesh: serving on ${server.httpUrl}\n`);
  process.stderr.write(`pipemesh serve: ${server.exposure}\n`);
  const apiRooms: ApiRoom[] = [];
  if (v["no-room"] !== true && local.length > 0) {
    for (const m of local) {
      const { roomId, secret } = server.relay.createRoom(m.info, { emptyTtlMs: EMPTY_ROOM_TTL_MS });
      const url = roomUrl(server.httpUrl, roomId, secret);
      apiRooms.push({ modelId: m.id, roomId, url });
      process.stdout.write(`pipemesh: room for ${m.id}: ${url}\n`);
    }
  } else if (v["no-room"] !== true) {
    const pair = readDefaultPair();
    const info = await modelInfoFor(pair.target, `${pair.name}/target`);
    const { roomId, secret } = server.relay.createRoom(info, { emptyTtlMs: EMPTY_ROOM_TTL_MS });
    const url = roomUrl(server.httpUrl, roomId, secret);
    apiRooms.push({ modelId: pair.name, roomId, url });
    process.stdout.write(`pipemesh: room for ${pair.name}: ${url}\n`);
  }
  api.attach(server.relay, apiRooms);
  if (apiRooms.length > 0)
    process.stdout.write(`pipemesh: OpenAI-compatible API on ${server.httpUrl}/v1\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await api.destroy();
  await server.close();
  return 0;
}

/**
 * What the app's pages must be allowed to fetch for models served from elsewhere: each remote source's
 * origin, and any https origin when one is https (its CDN redirect target is not known in advance).
 */
function connectOriginsOf(models: readonly ServedModel[]): string[] {
  const out = new Set<string>();
  for (const m of models) {
    const url = m.info.source?.url;
    if (url === undefined || !/^https?:\/\//i.test(url)) continue;
    const u = new URL(url);
    out.add(u.origin);
    if (u.protocol === "https:") out.add("https:");
  }
  return [...out];
}
