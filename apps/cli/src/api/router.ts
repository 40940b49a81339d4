// The OpenAI-compatible HTTP API of `pipemesh serve`, in front of its other handlers on the same port:
// GET /v1/models, POST /v1/chat/completions and /v1/completions (JSON or SSE), GET /health and
// GET /metrics. Requests go to the named room's head and queue there; a client that disconnects cancels
// its generation at once. Other paths fall through to `next`. Not the head itself (@pipemesh/head).

import type { IncomingMessage, ServerResponse } from "node:http";
import type { ChatCompletionCreateParams, CompletionCreateParams } from "@pipemesh/head";
import type { Relay } from "@pipemesh/mesh/node";
import { isMeshError } from "@pipemesh/mesh";
import { ApiMetrics } from "./api-metrics.ts";
import { authorized } from "./auth.ts";
import { BodyError, readJsonBody } from "./json-body.ts";
import { apiError, sendError, toApiError } from "./openai-error.ts";
import { RoomHead, type ApiRoom } from "./room-heads.ts";
import { endSse, sendEvent, startSse } from "./sse.ts";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
type ChatParams = ChatCompletionCreateParams;
type TextParams = CompletionCreateParams;

export interface ApiOptions {
  /** Bearer key every API request must carry; undefined: none needed. */
  apiKey: string | undefined;
  log: (message: string) => void;
}

const API_PATHS = new Set(["/health", "/metrics"]);

export class OpenAiApi {
  readonly #o: ApiOptions;
  #rooms: RoomHead[] = [];
  readonly #observed = new WeakSet<object>();
  readonly metrics = new ApiMetrics(() => this.#rooms);

  constructor(o: ApiOptions) {
    this.#o = o;
  }

  /** The rooms the API serves (the first is the default model); call once the server is up. */
  attach(relay: Relay, rooms: readonly ApiRoom[]): void {
    this.#rooms = rooms.map((r) => new RoomHead(r, relay, this.#o.log));
  }

  handler(next: Handler): Handler {
    return (req, res) => {
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      if (!path.startsWith("/v1/") && !API_PATHS.has(path)) return next(req, res);
      if (!authorized(req, this.#o.apiKey)) {
        sendError(
          res,
          apiError(401, "authentication_error", "invalid_api_key", "a valid API key is required"),
        );
        return;
      }
      this.#route(req, res, path).catch((e: unknown) => sendError(res, toApiError(e)));
    };
  }

  async destroy(): Promise<void> {
    await Promise.all(this.#rooms.map((r) => r.destroy()));
  }

  async #route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const method = req.method ?? "GET";
    const route = `${method} ${path}`;
    if (route === "GET /v1/models") return this.#models(res);
    if (route === "GET /health") return this.#health(res);
    if (route === "GET /metrics") {
      res.writeHead(200, { "content-type": this.metrics.registry.contentType });
      res.end(await this.metrics.registry.metrics());
      return;
    }
    if (route === "POST /v1/chat/completions") return this.#generate(req, res, "chat");
    if (route === "POST /v1/completions") return this.#generate(req, res, "text");
    sendError(res, apiError(404, "invalid_request_error", "not_found", `no route ${route}`));
  }

  #models(res: ServerResponse): void {
    const data = this.#rooms.map((r) => ({
      id: r.room.modelId,
      object: "model",
      created: 0,
      owned_by: "pipemesh",
    }));
    json(res, 200, { object: "list", data });
  }

  #health(res: ServerResponse): void {
    const rooms = this.#rooms.map((r) => r.view());
    const first = rooms[0];
    json(res, 200, {
      ready: first?.ready ?? false,
      model: first?.model ?? null,
      peers: first?.peers ?? 0,
      plan: first?.plan ?? [],
      rooms,
    });
  }

  async #generate(req: IncomingMessage, res: ServerResponse, kind: "chat" | "text"): Promise<void> {
    let body: unknown;
    try {
      body = await readJsonBody(req);
    } catch (e) {
      if (e instanceof BodyError) return sendError(res, e.api);
      throw e;
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      const message = "the request body must be a JSON object";
      return sendError(res, apiError(400, "invalid_request_error", "invalid_value", message));
    }
    const model = (body as { model?: unknown }).model;
    const room =
      model === undefined ? this.#rooms[0] : this.#rooms.find((r) => r.room.modelId === model);
    if (room === undefined) {
      const message = `the model ${JSON.stringify(model)} does not exist; see /v1/models`;
      return sendError(
        res,
        apiError(404, "invalid_request_error", "model_not_found", message, "model"),
      );
    }
    if (room.contributors() === 0) {
      const message = "no contributors have joined the room yet; open its URL or run pipemesh join";
      return sendError(res, apiError(503, "server_error", "no_contributors", message));
    }
    const cancel = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) cancel.abort();
    });
    const modelId = room.room.modelId;
    const params = { ...body, model: modelId, signal: cancel.signal };
    await room.use(async (head) => {
      if (!this.#observed.has(head)) {
        this.#observed.add(head);
        head.observe((r) => this.metrics.generated(modelId, r));
      }
      try {
        const out =
          kind === "chat"
            ? await head.chat.completions.create(params as ChatParams)
            : await head.completions.create(params as TextParams);
        if (!(Symbol.asyncIterator in out)) return json(res, 200, out);
        startSse(res);
        try {
          for await (const chunk of out) sendEvent(res, chunk);
          endSse(res);
        } catch (e) {
          this.metrics.failed(modelId, cancel.signal.aborted ? "cancelled" : "error");
          if (!cancel.signal.aborted) endSse(res, toApiError(e));
        }
      } catch (e) {
        const cancelled = cancel.signal.aborted || isMeshError(e, "ERR_ABORTED");
        this.metrics.failed(modelId, cancelled ? "cancelled" : "error");
        if (!cancel.signal.aborted) throw e;
      }
    });
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}
