// Node-only surface of @pipemesh/mesh: the ws signaling server (standalone or attached to Vite's HTTP
// server), static files with Range and COOP/COEP for `pipemesh serve`, and the WebSocket/RTC glue that lets
// PeerNode and HeadNode run in Node (node-datachannel through simple-peer).
export {
  attachSignaling,
  startSignalingServer,
  DEFAULT_SIGNAL_PATH,
  type AttachOptions,
  type AttachedSignaling,
  type RequestHandler,
  type SignalingServer,
  type SignalingServerOptions,
  type UpgradeEmitter,
} from "./signaling-server.ts";
export {
  createStaticHandler,
  parseRange,
  ISOLATION_HEADERS,
  type StaticOptions,
} from "./static-server.ts";
export { isLoopbackUrl, nodeRtcOptions, nodeWebSocketFactory } from "./web-socket.ts";
export {
  CLOSE_CODES,
  DEFAULT_RELAY_LIMITS,
  Relay,
  type RelayConnection,
  type RelayLimits,
  type RelayOptions,
  type RelaySession,
} from "../signaling/relay.ts";
