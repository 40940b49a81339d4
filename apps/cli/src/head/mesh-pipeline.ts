// --peers N > 1: a local signaling server that also serves the model directory, N peer processes
// (`pipemesh join`) holding the layers, and this process as the head (embeddings only), connected over
// real WebRTC on 127.0.0.1. Returns the head session's PipelinePort and the plan.

import { spawn, type ChildProcess } from "node:child_process";
import type { IncomingMessage, ServerResponse } from "node:http";
import { basename, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import type { ModelConfig } from "@pipemesh/engine";
import { roomPipeline, type OpenedPipeline, type PlanEntry } from "@pipemesh/head";
import { isGgufLocation, modelFootprint, probeCompute } from "@pipemesh/engine";
import {
  HeadNode,
  MeshError,
  parseRoomUrl,
  roomUrl,
  SignalingClient,
  type HeadSession,
  type MemberInfo,
  type RoomState,
} from "@pipemesh/mesh";
import {
  createStaticHandler,
  isLoopbackUrl,
  nodeRtcOptions,
  nodeWebSocketFactory,
  startSignalingServer,
} from "@pipemesh/mesh/node";
import type { GenerateOptions } from "../args.ts";
import { CliError } from "../cli-error.ts";
import { nodeStageLoader } from "../peer/load-stage.ts";
import { modelInfoFor } from "./model-info.ts";

// The CLI package's own bin (sources in a clone, built JavaScript in an installed package: it decides).
const BIN = fileURLToPath(new URL("../../bin/pipemesh.mjs", import.meta.url));
/** The room's model id: a directory under /models/, or a file there for a GGUF model. */
function localModelId(model: string): string {
  return isGgufLocation(model) ? "local.gguf" : "local";
}
const PEERS_TIMEOUT_MS = Number(process.env["PIPEMESH_PEERS_TIMEOUT_MS"] ?? 180_000);

/**
 * Serves the model (HTTP Range included), nothing else: a directory's files under /models/local/, or a
 * GGUF file as /models/local.gguf.
 */
function modelHandler(model: string): (req: IncomingMessage, res: ServerResponse) => void {
  const gguf = isGgufLocation(model);
  const files = createStaticHandler({ roots: [gguf ? dirname(model) : model] });
  const id = localModelId(model);
  return (req, res) => {
    const path = req.url?.split("?")[0] ?? "";
    if (gguf ? path !== `/models/${id}` : !path.startsWith(`/models/${id}/`)) {
      res.writeHead(404).end();
      return;
    }
    req.url = gguf ? `/${basename(model)}` : `/${path.slice(`/models/${id}/`.length)}`;
    files(req, res);
  };
}

interface PeerProcess {
  child: ChildProcess;
  stderr: string[];
}

function spawnPeer(url: string, i: number, opts: GenerateOptions, gflops: number): PeerProcess {
  // Local peers share this machine: one probe for all, so noise cannot leave one idle.
  const args = [
    BIN,
    "join", // the room URL (with its secret) goes in the environment, out of ps
    "--backend",
    opts.backend,
    "--name",
    `peer-${i + 1}`,
    "--matmul-gflops",
    gflops.toFixed(3),
  ];
  if (opts.modelledStageMs > 0 || opts.modelledRowMs > 0) {
    args.push("--modelled-stage-ms", String(opts.modelledStageMs));
    args.push("--modelled-row-ms", String(opts.modelledRowMs));
  }
  if (opts.linkLatencyMs > 0) args.push("--link-latency-ms", String(opts.linkLatencyMs));
  if (opts.linkBandwidthMbps > 0)
    args.push("--link-bandwidth-mbps", String(opts.linkBandwidthMbps));
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, PIPEMESH_ROOM_URL: url },
  });
  const stderr: string[] = [];
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr.push(chunk);
    if (stderr.length > 50) stderr.shift();
  });
  return { child, stderr };
}

async function stopPeer(p: PeerProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.child.once("exit", () => resolve()));
  p.child.kill("SIGTERM");
  p.child.kill("SIGCONT"); // a stopped child (frozen, planned out) takes its SIGTERM now, not never
  const timer = setTimeout(() => p.child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}

export async function openMeshPipeline(
  opts: GenerateOptions,
  model: string,
  config: ModelConfig,
  s: { log: (message: string) => void; signal: AbortSignal },
): Promise<OpenedPipeline> {
  const server = await startSignalingServer({ port: 0, http: modelHandler(model) });
  const peers: PeerProcess[] = [];
  const destroyPipeline = async (): Promise<void> => {
    await Promise.all(peers.map(stopPeer));
    await server.close();
  };
  try {
    const admin = await SignalingClient.connect(server.url, { webSocket: nodeWebSocketFactory });
    const room = await admin.createRoom(
      await modelInfoFor(model, localModelId(model), s.signal, opts.ctx),
    );
    admin.destroy();
    const url = roomUrl(server.httpUrl, room.roomId, room.secret);
    const { matmulGflops } = await probeCompute({ backend: "cpu", budgetMs: 100 });
    for (let i = 0; i < opts.peers; i++) peers.push(spawnPeer(url, i, opts, matmulGflops));

    const alive = (p: PeerProcess): boolean =>
      p.child.exitCode === null && p.child.signalCode === null;
    const opened = await joinAsHead(
      url,
      config,
      opts,
      s,
      { expectedStages: opts.peers, peers },
      {
        // After a recovery, children that died are replaced by fresh `pipemesh join` processes: they join
        // as spare members for the next fault (a join never disturbs a running generation).
        onRecovered: () => {
          const missing = opts.peers - peers.filter(alive).length;
          for (let i = 0; i < missing; i++)
            peers.push(spawnPeer(url, peers.length, opts, matmulGflops));
        },
      },
    );
    return {
      get pipeline() {
        return opened.pipeline;
      },
      get plan() {
        return opened.plan;
      },
      recover: (error, signal) => opened.recover?.(error, signal) ?? Promise.resolve(null),
      destroy: async () => {
        await opened.destroy();
        await destroyPipeline();
      },
    };
  } catch (e) {
    const tails = peers.map(
      (p, i) => `peer-${i + 1}: ${p.stderr.join("").trim().split("\n").slice(-3).join(" / ")}`,
    );
    await destroyPipeline();
    if (e instanceof MeshError || e instanceof CliError) {
      if (peers.some((p) => p.child.exitCode !== null)) {
        throw new CliError("ERR_CLI_PEER", `${e.message}\n${tails.join("\n")}`);
      }
    }
    throw e;
  }
}

/**
 * Joins the room at `url` as its head (an embeddings-only shard in this process), waits for
 * `expectedStages` stage peers when given, acquires the generation slot and returns the pipeline.
 */
export async function joinAsHead(
  url: string,
  config: ModelConfig,
  opts: Pick<GenerateOptions, "linkLatencyMs" | "linkBandwidthMbps" | "minStages">,
  s: { log: (message: string) => void; signal: AbortSignal },
  wait: { expectedStages: number; peers: readonly PeerProcess[] } | null,
  hooks: { onFailure?: (error: MeshError) => void; onRecovered?: () => void } = {},
): Promise<OpenedPipeline> {
  const room = parseRoomUrl(url);
  let stages = 0;
  let members: readonly MemberInfo[] = [];
  /** Every member's name as last seen (a failed stage has left the room by the time it is named). */
  const names = new Map<string, string>();
  let loadedStages = 0;
  let mismatch: string | null = null;
  let stagesChanged: () => void = () => {};
  const fp = modelFootprint(config);
  const head = await HeadNode.join({
    url: room.signalUrl,
    roomId: room.roomId,
    secret: room.secret,
    vocabSize: config.vocabSize,
    caps: {
      platform: "node",
      adapter: { description: "cli head (embeddings only)", limits: {} },
      // Room for the embedding table only: the stage peers hold every layer.
      memoryBudgetBytes: Math.ceil(fp.embedBytes * 1.25) + (1 << 20),
      matmulGflops: 0.001,
      models: [],
      name: "cli-head",
    },
    loadStage: nodeStageLoader({ origin: room.origin, backend: "cpu" }),
    webSocket: nodeWebSocketFactory,
    rtc: nodeRtcOptions({ loopbackOnly: isLoopbackUrl(room.signalUrl) }),
    shape: { latencyMs: opts.linkLatencyMs, bandwidthMbps: opts.linkBandwidthMbps },
    onEvent: (e) => {
      if (e.type === "state" && e.state.model.layerCount !== config.numLayers) {
        mismatch = `the room's model ${e.state.model.id} has ${e.state.model.layerCount} layers, --model has ${config.numLayers}`;
      }
      if (e.type === "queued") s.log(`pipemesh: room busy, queued at position ${e.position}`);
      if (e.type !== "state") return;
      if (process.env["PIPEMESH_DEBUG"] === "1") {
        const m = e.state.members.map(
          (x) => `${x.role}:${x.caps.matmulGflops}:${x.caps.memoryBudgetBytes}`,
        );
        s.log(`room: ${m.join(" ")} plan ${JSON.stringify(e.state.plan?.stages ?? null)}`);
      }
      members = e.state.members;
      for (const m of members) if (m.caps.name !== undefined) names.set(m.peerId, m.caps.name);
      stages = members.filter((m) => m.role === "stage").length;
      loadedStages = loadedStageCount(e.state);
      stagesChanged();
    },
  });
  try {
    if (mismatch !== null) throw new CliError("ERR_CLI_MODEL", mismatch);
    if (wait !== null) {
      await waitFor(
        () => stages >= wait.expectedStages,
        (f) => (stagesChanged = f),
        wait.peers,
        s.signal,
      );
      s.log(`pipemesh: ${wait.expectedStages} peer processes joined; loading their layers`);
    }
    const minStages = opts.minStages;
    if (minStages !== undefined) {
      s.log(`pipemesh: waiting for ${minStages} loaded stages in the room`);
      await waitFor(
        () => loadedStages >= minStages,
        (f) => (stagesChanged = f),
        [],
        s.signal,
        () =>
          new CliError(
            "ERR_ROOM_STAGES",
            `the room's plan had ${loadedStages} loaded stages after ${PEERS_TIMEOUT_MS} ms; --min-stages ${minStages} asked for more`,
          ),
      );
    }
    const session = await head.acquire({ signal: s.signal, timeoutMs: PEERS_TIMEOUT_MS });
    const planOf = (x: HeadSession): PlanEntry[] => {
      const loaded = new Map(members.map((m) => [m.peerId, m.loaded]));
      return x.plan.stages
        .filter((st) => st.layerEnd > st.layerStart)
        .map((st) => {
          const l = loaded.get(st.peerId);
          const same = l?.layerStart === st.layerStart && l.layerEnd === st.layerEnd;
          return {
            peerId: st.peerId,
            layerStart: st.layerStart,
            layerEnd: st.layerEnd,
            weightBytes: same ? (l.weightBytes ?? null) : null,
            kvBytes: same ? (l.kvBytes ?? null) : null,
          };
        });
    };
    const describePlan = (plan: readonly PlanEntry[]): string =>
      plan.map((p) => `${p.layerStart}-${p.layerEnd}`).join(" | ");
    const nameOf = (peerId: unknown): string => {
      const id = typeof peerId === "string" ? peerId : "?";
      const name = names.get(id);
      return name === undefined ? `peer ${id}` : `${name} (${id})`;
    };
    let failedAt = 0;
    const opened = roomPipeline(head, session, {
      planOf,
      recoverTimeoutMs: PEERS_TIMEOUT_MS,
      onFailure: (e) => {
        failedAt = performance.now();
        const peerId = (e.details as { peerId?: unknown } | undefined)?.peerId;
        const why = e.message.replace(/^(ERR_[A-Z0-9_]+: )+/, "");
        s.log(`pipemesh: ${nameOf(peerId)} failed (${e.code}: ${why}); recovering`);
        hooks.onFailure?.(e);
      },
      onRecovered: (next) => {
        s.log(
          `pipemesh: recovered in ${Math.round(performance.now() - failedAt)} ms; pipeline ${describePlan(planOf(next))}`,
        );
        hooks.onRecovered?.();
      },
      onDestroy: () => head.destroy(),
    });
    s.log(`pipemesh: pipeline ${describePlan(opened.plan)}`);
    return opened;
  } catch (e) {
    head.destroy();
    throw e;
  }
}

/** Stages of the room's current plan (not its head) that report their planned range loaded. */
function loadedStageCount(state: RoomState): number {
  const plan = state.plan;
  if (plan === null) return 0;
  return plan.stages.filter((st) => {
    if (st.peerId === plan.headId || st.layerEnd === st.layerStart) return false;
    const l = state.members.find((m) => m.peerId === st.peerId)?.loaded;
    return l?.layerStart === st.layerStart && l.layerEnd === st.layerEnd;
  }).length;
}

/** Resolves when check() holds; rejects if a peer process dies first or after PEERS_TIMEOUT_MS. */
function waitFor(
  check: () => boolean,
  subscribe: (notify: () => void) => void,
  peers: readonly PeerProcess[],
  signal: AbortSignal,
  timeoutError: () => Error = () =>
    new CliError("ERR_CLI_PEER", `peers did not join within ${PEERS_TIMEOUT_MS} ms`),
): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(timeoutError()), PEERS_TIMEOUT_MS);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      subscribe(() => {});
      for (const p of peers) p.child.off("exit", onExit);
      signal.removeEventListener("abort", onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onExit = (): void => {
      const dead = peers.findIndex((p) => p.child.exitCode !== null || p.child.signalCode !== null);
      const tail = peers[dead]?.stderr.join("").trim().split("\n").slice(-3).join(" / ") ?? "";
      done(new CliError("ERR_CLI_PEER", `peer-${dead + 1} exited before joining: ${tail}`));
    };
    const onAbort = (): void => done(new MeshError("ERR_ABORTED", "interrupted"));
    for (const p of peers) p.child.once("exit", onExit);
    signal.addEventListener("abort", onAbort, { once: true });
    subscribe(() => {
      if (check()) done();
    });
    if (check()) done();
  });
}
