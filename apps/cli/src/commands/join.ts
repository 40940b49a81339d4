// `pipemesh join ROOM_URL`: this machine contributes a shard (WebGPU through Dawn, or --backend cpu) to a
// room. Announces its capabilities, loads the layer range the plan assigns (progress on stderr), serves
// runs, and leaves the room cleanly on Ctrl-C or SIGTERM. The room URL carries the room's secret, so it is
// best given through PIPEMESH_ROOM_URL or on stdin (`-`), where `ps` cannot see it.

import { parseArgs } from "node:util";
import { PeerNode, parseRoomUrl, type RoomEvent } from "@pipemesh/mesh";
import { isLoopbackUrl, nodeRtcOptions, nodeWebSocketFactory } from "@pipemesh/mesh/node";
import { CliError } from "../cli-error.ts";
import { roomUrlFrom } from "../room-url.ts";
import { nodeCaps } from "../peer/caps.ts";
import { heldModels } from "../peer/held-layers.ts";
import { LoadMeter } from "../peer/load-meter.ts";
import { defaultCacheDir } from "@pipemesh/engine/node";
import { nodeStageLoader } from "../peer/load-stage.ts";
import type { ModelledCompute } from "../peer/modelled-stage.ts";

const USAGE = `usage: pipemesh join [ROOM_URL | -] [--memory-budget MB] [--backend webgpu|cpu] [--name NAME]
  the room URL: PIPEMESH_ROOM_URL, or "-" to read it from stdin (an argument shows its secret in ps)`;

interface JoinOptions {
  /** The argument: a URL, "-" (stdin) or undefined (the environment). */
  roomUrl: string | undefined;
  memoryBudgetMb: number | undefined;
  backend: "webgpu" | "cpu";
  name: string | undefined;
  linkLatencyMs: number;
  linkBandwidthMbps: number;
  /** Announce this speed instead of measuring (peers started together on one machine share one probe). */
  matmulGflops: number | undefined;
  /** Benchmarks: modelled busy time per run before the real compute (see peer/modelled-stage.ts). */
  modelled: ModelledCompute | null;
}

function parseJoinArgs(argv: readonly string[]): JoinOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        "memory-budget": { type: "string" },
        backend: { type: "string" },
        name: { type: "string" },
        "link-latency-ms": { type: "string" },
        "link-bandwidth-mbps": { type: "string" },
        "matmul-gflops": { type: "string" },
        "modelled-stage-ms": { type: "string" },
        "modelled-row-ms": { type: "string" },
      },
    });
  } catch (e) {
    throw new CliError("ERR_CLI_USAGE", `${(e as Error).message}\n${USAGE}`);
  }
  const [roomUrl, ...extra] = parsed.positionals;
  if (extra.length > 0) throw new CliError("ERR_CLI_USAGE", USAGE);
  const v = parsed.values;
  const nonNeg = (name: string, s: string | undefined): number => {
    const n = Number(s ?? 0);
    if (!Number.isFinite(n) || n < 0) throw new CliError("ERR_CLI_USAGE", `--${name} must be >= 0`);
    return n;
  };
  const backend = v.backend ?? "webgpu";
  if (backend !== "webgpu" && backend !== "cpu") {
    throw new CliError("ERR_CLI_USAGE", `--backend must be webgpu or cpu, got "${backend}"`);
  }
  const budget =
    v["memory-budget"] === undefined ? undefined : nonNeg("memory-budget", v["memory-budget"]);
  return {
    roomUrl,
    memoryBudgetMb: budget,
    backend,
    name: v.name,
    linkLatencyMs: nonNeg("link-latency-ms", v["link-latency-ms"]),
    linkBandwidthMbps: nonNeg("link-bandwidth-mbps", v["link-bandwidth-mbps"]),
    matmulGflops:
      v["matmul-gflops"] === undefined ? undefined : nonNeg("matmul-gflops", v["matmul-gflops"]),
    modelled:
      v["modelled-stage-ms"] === undefined
        ? null
        : {
            stageMs: nonNeg("modelled-stage-ms", v["modelled-stage-ms"]),
            rowMs: nonNeg("modelled-row-ms", v["modelled-row-ms"]),
          },
  };
}

function describe(e: RoomEvent): string | null {
  switch (e.type) {
    case "loading":
      return null; // bytes, rate and time left come from the loader (LoadMeter)
    case "loaded":
      return `loaded layers ${e.spec.layerStart}-${e.spec.layerEnd}, ready`;
    case "session":
      return e.error === undefined
        ? `pipeline v${e.planVersion}: ${e.status}`
        : `pipeline v${e.planVersion}: ${e.status} (${e.error.message})`;
    case "error":
      return `error: ${e.error.message}`;
    case "state":
    case "queued":
      return null;
  }
}

export async function joinCommand(argv: readonly string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const o = parseJoinArgs(argv);
  const url = roomUrlFrom(o.roomUrl, "join");
  if (url === null) throw new CliError("ERR_CLI_USAGE", USAGE);
  const room = parseRoomUrl(url);
  const caps = {
    ...(await nodeCaps({
      backend: o.backend,
      memoryBudgetMb: o.memoryBudgetMb,
      name: o.name,
      matmulGflops: o.matmulGflops,
    })),
    // The layers this machine's cache holds, so the room can give them back to it.
    models: heldModels(defaultCacheDir()),
  };
  let lastLine = "";
  const log = (line: string): void => {
    if (line === lastLine) return;
    lastLine = line;
    process.stderr.write(`pipemesh join: ${line}\n`);
  };
  const meters = new Map<string, LoadMeter>();
  let early: Error | null = null;
  let ended: (error: Error) => void = (error) => (early = error);
  const peer = await PeerNode.join({
    url: room.signalUrl,
    roomId: room.roomId,
    secret: room.secret,
    caps,
    loadStage: nodeStageLoader({
      origin: room.origin,
      backend: o.backend,
      modelled: o.modelled,
      onProgress: (range, p) => {
        const meter = meters.get(range) ?? new LoadMeter();
        meters.set(range, meter);
        const line = meter.update(`loading layers ${range}`, p);
        if (line !== null) log(line);
      },
    }),
    webSocket: nodeWebSocketFactory,
    rtc: nodeRtcOptions({ loopbackOnly: isLoopbackUrl(room.signalUrl) }),
    shape: { latencyMs: o.linkLatencyMs, bandwidthMbps: o.linkBandwidthMbps },
    onEvent: (e) => {
      const line = describe(e);
      if (line !== null) log(line);
      // The room closed this peer (evicted by the room's head, or the server went away): nothing to serve.
      if (
        e.type === "error" &&
        /^ERR_(EVICTED|SIGNALING_CLOSED|SIGNALING_TIMEOUT)$/.test(e.error.code)
      )
        ended(e.error);
    },
  });
  log(`joined room ${room.roomId} as ${peer.peerId} (${caps.adapter.description})`);
  const closedBy = await new Promise<Error | null>((resolve) => {
    const stop = (): void => resolve(null);
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    ended = resolve;
    if (early !== null) resolve(early);
  });
  if (closedBy !== null) {
    peer.destroy();
    throw closedBy;
  }
  log("leaving the room");
  peer.destroy();
  return 0;
}
