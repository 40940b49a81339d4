// A whole networked pipeline in one process: the head's HeadPipeline and one StageServer per remote stage,
// joined by in-memory links (optionally shaped per hop with latency and bandwidth). Same code path, framing
// and protocol as WebRTC; used by tests, benchmarks and `--peers N --link-latency-ms ...` simulations.

import type { StageRunner } from "../ports.ts";
import type { WireDtype } from "../protocol/messages.ts";
import { systemClock, type Clock } from "../transport/clock.ts";
import { Link, type LinkOptions } from "../transport/link.ts";
import { createMemoryChannelPair } from "../transport/memory-link.ts";
import { shapeChannel, type ShapeOptions } from "../transport/shaped-link.ts";
import { HeadPipeline, type HeadPipelineOptions } from "./head-pipeline.ts";
import { StageServer } from "./stage-server.ts";

export interface MemoryMeshOptions {
  /** The head's shard (embeddings, maybe the first layers). */
  headRunner: StageRunner;
  /** Remote stages in order; the last is the tail. */
  stageRunners: readonly StageRunner[];
  /** Shaping applied to both directions of every link. */
  shape?: Omit<ShapeOptions, "clock">;
  activationDtype?: WireDtype;
  clock?: Clock;
  link?: Omit<LinkOptions, "localId" | "remoteId" | "clock">;
  /** Passed to the HeadPipeline: result checks and the run deadline. */
  head?: Pick<
    HeadPipelineOptions,
    "vocabSize" | "stallMinMs" | "stallFactor" | "stallUnmeasuredMs"
  >;
}

export interface MemoryMesh {
  head: HeadPipeline;
  stages: StageServer[];
  /** Every link, by "<local>-><remote>" (e.g. "head->s1", "s1->s2"). */
  links: Map<string, Link>;
  destroy(): void;
}

export function createMemoryMesh(options: MemoryMeshOptions): MemoryMesh {
  const clock = options.clock ?? systemClock;
  const links = new Map<string, Link>();
  const pair = (a: string, b: string): [Link, Link] => {
    const [ca, cb] = createMemoryChannelPair();
    const shape = { ...options.shape, clock };
    const la = new Link(shapeChannel(ca, shape), {
      ...options.link,
      localId: a,
      remoteId: b,
      clock,
    });
    const lb = new Link(shapeChannel(cb, shape), {
      ...options.link,
      localId: b,
      remoteId: a,
      clock,
    });
    links.set(`${a}->${b}`, la);
    links.set(`${b}->${a}`, lb);
    return [la, lb];
  };
  const n = options.stageRunners.length;
  const ids = options.stageRunners.map((_, i) => `s${i + 1}`);
  const headSide: Link[] = [];
  const stageHead: Link[] = [];
  ids.forEach((id) => {
    const [h, s] = pair("head", id);
    headSide.push(h);
    stageHead.push(s);
  });
  const chain: [Link, Link][] = [];
  for (let i = 0; i + 1 < n; i++) chain.push(pair(ids[i] ?? "", ids[i + 1] ?? ""));
  const stages = options.stageRunners.map((runner, i) => {
    const head = stageHead[i];
    if (head === undefined) throw new Error("unreachable");
    const upstream = i === 0 ? head : (chain[i - 1]?.[1] ?? head);
    const downstream = i === n - 1 ? null : (chain[i]?.[0] ?? null);
    return new StageServer({
      runner,
      upstream,
      downstream,
      head,
      clock,
      ...(options.activationDtype === undefined
        ? {}
        : { activationDtype: options.activationDtype }),
    });
  });
  const head = new HeadPipeline({
    ...options.head,
    runner: options.headRunner,
    stages: headSide,
    clock,
    ...(options.activationDtype === undefined ? {} : { activationDtype: options.activationDtype }),
  });
  return {
    head,
    stages,
    links,
    destroy() {
      head.destroy();
      for (const s of stages) s.destroy();
    },
  };
}
