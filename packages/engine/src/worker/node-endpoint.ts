// comlink's Node adapter (worker_threads Worker / parentPort → comlink Endpoint), re-exported here because
// only src/worker/ may import comlink. Typed structurally, so this file needs no Node types.

import nodeEndpointImpl from "comlink/dist/umd/node-adapter.js";
import type { Endpoint } from "comlink";

/** The subset of a worker_threads Worker or MessagePort that comlink needs. */
export interface NodeMessageTarget {
  postMessage(message: unknown, transfer?: readonly unknown[]): void;
  on(type: string, listener: (...args: unknown[]) => void): void;
  off(type: string, listener: (...args: unknown[]) => void): void;
  start?: () => void;
}

export function nodeEndpoint(target: NodeMessageTarget): Endpoint {
  return nodeEndpointImpl(target);
}
