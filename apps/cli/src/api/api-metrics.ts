// The API's Prometheus metrics (prom-client, its own registry): generated tokens, requests by outcome,
// decode speed, draft acceptance, runs launched and cancelled, time to first token, and per room the
// contributors and the queue length (read when scraped). Recording only; serving /metrics is the router's.

import type { GenerationResult } from "@pipemesh/mesh";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { RoomHead } from "./room-heads.ts";

export class ApiMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<"model" | "outcome">;
  readonly #tokens: Counter<"model">;
  readonly #runsLaunched: Counter<"model">;
  readonly #runsCancelled: Counter<"model">;
  readonly #tokensPerSecond: Gauge<"model">;
  readonly #acceptance: Gauge<"model">;
  readonly #ttft: Histogram<"model">;

  constructor(rooms: () => readonly RoomHead[]) {
    const registers = [this.registry];
    this.#requests = new Counter({
      name: "pipemesh_api_requests_total",
      help: "API generation requests by outcome (ok, cancelled, error)",
      labelNames: ["model", "outcome"],
      registers,
    });
    this.#tokens = new Counter({
      name: "pipemesh_generated_tokens_total",
      help: "Tokens generated through the API",
      labelNames: ["model"],
      registers,
    });
    this.#runsLaunched = new Counter({
      name: "pipemesh_runs_launched_total",
      help: "Pipeline runs launched (canonical and speculative)",
      labelNames: ["model"],
      registers,
    });
    this.#runsCancelled = new Counter({
      name: "pipemesh_runs_cancelled_total",
      help: "Speculative runs cancelled early",
      labelNames: ["model"],
      registers,
    });
    this.#tokensPerSecond = new Gauge({
      name: "pipemesh_tokens_per_second",
      help: "Decode speed of the last generation (tokens/s)",
      labelNames: ["model"],
      registers,
    });
    this.#acceptance = new Gauge({
      name: "pipemesh_draft_acceptance_ratio",
      help: "Share of drafted tokens the target accepted in the last generation",
      labelNames: ["model"],
      registers,
    });
    this.#ttft = new Histogram({
      name: "pipemesh_time_to_first_token_seconds",
      help: "Time from a generation's start to its first token",
      labelNames: ["model"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers,
    });
    new Gauge({
      name: "pipemesh_room_peers",
      help: "Contributors (stage peers) in the room",
      labelNames: ["model"],
      registers,
      collect() {
        for (const r of rooms()) this.set({ model: r.room.modelId }, r.contributors());
      },
    });
    new Gauge({
      name: "pipemesh_queue_length",
      help: "Requests waiting for the room's head",
      labelNames: ["model"],
      registers,
      async collect() {
        for (const r of rooms())
          this.set({ model: r.room.modelId }, (await r.opened())?.queueLength ?? 0);
      },
    });
  }

  generated(model: string, result: GenerationResult): void {
    if (result.finishReason === "abort") return; // counted as cancelled by the router
    const m = result.metrics;
    this.#requests.inc({ model, outcome: "ok" });
    this.#tokens.inc({ model }, result.tokens.length);
    this.#runsLaunched.inc({ model }, m.runsLaunched);
    this.#runsCancelled.inc({ model }, m.runsCancelled);
    this.#tokensPerSecond.set({ model }, m.tokensPerSecond);
    this.#acceptance.set({ model }, m.acceptanceRate);
    if (result.tokens.length > 0) this.#ttft.observe({ model }, m.ttftMs / 1000);
  }

  failed(model: string, outcome: "cancelled" | "error"): void {
    this.#requests.inc({ model, outcome });
  }
}
