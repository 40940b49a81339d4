// Node-only surface of @pipemesh/mesh (ws signaling server, node-datachannel WebRTC).
export {};
