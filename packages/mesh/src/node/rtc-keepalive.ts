// Keeps node-datachannel's global runtime alive while the mesh uses WebRTC in this process.
// HACK: webrtc-polyfill (simple-peer 10's RTCPeerConnection in Node) calls node-datachannel's global cleanup()
// whenever its last RTCPeerConnection closes, and connections created while that cleanup runs lose their
// ICE transport ("Got a remote candidate without ICE transport"). A stage between two sessions closes all
// its connections and opens new ones at once, so we hold one idle RTCPeerConnection open while any holder
// exists (and a moment after, so back-to-back sessions never cross a cleanup).

import { RTCPeerConnection } from "webrtc-polyfill";

const IDLE_CLOSE_MS = 1000;

let holders = 0;
let keepalive: RTCPeerConnection | null = null;
let closeTimer: ReturnType<typeof setTimeout> | null = null;
let exitHooked = false;

function closeNow(): void {
  if (closeTimer !== null) clearTimeout(closeTimer);
  closeTimer = null;
  const pc = keepalive;
  keepalive = null;
  pc?.close();
}

/** Marks WebRTC as in use; call the returned function (once) when done. */
export function retainNodeRtc(): () => void {
  holders++;
  if (closeTimer !== null) {
    clearTimeout(closeTimer);
    closeTimer = null;
  }
  keepalive ??= new RTCPeerConnection({ iceServers: [] });
  if (!exitHooked) {
    exitHooked = true;
    process.once("beforeExit", closeNow);
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    holders--;
    if (holders > 0) return;
    closeTimer = setTimeout(closeNow, IDLE_CLOSE_MS);
    closeTimer.unref();
  };
}
