// The shareable room URL, one format for the CLI and the web app: http(s)://host[:port]/room/<roomId>#<secret>.
// The secret sits in the fragment, which browsers never send to the server (no logs, no Referer). The
// signaling endpoint is derived from the same origin: ws(s)://host[:port]/signal.

import { MeshError } from "../errors.ts";

export const SIGNAL_PATH = "/signal";
const ID = /^[A-Za-z0-9_.:-]{1,128}$/;

export function roomUrl(origin: string, roomId: string, secret: string): string {
  const base = new URL(origin);
  return `${base.protocol}//${base.host}/room/${encodeURIComponent(roomId)}#${encodeURIComponent(secret)}`;
}

/** The signaling WebSocket URL for a page or server origin (http -> ws, https -> wss). */
export function signalUrl(origin: string): string {
  const base = new URL(origin);
  const scheme = base.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${base.host}${SIGNAL_PATH}`;
}

/** Parses a room URL; throws ERR_ROOM_NOT_FOUND when it is not one (the message never shows a secret). */
export function parseRoomUrl(url: string): {
  origin: string;
  signalUrl: string;
  roomId: string;
  secret: string;
} {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new MeshError("ERR_ROOM_NOT_FOUND", "not a room URL");
  }
  const m = /^\/room\/([^/]+)\/?$/.exec(u.pathname);
  const roomId = m?.[1] === undefined ? "" : decodeURIComponent(m[1]);
  const secret = decodeURIComponent(u.hash.replace(/^#/, ""));
  if ((u.protocol !== "http:" && u.protocol !== "https:") || !ID.test(roomId) || !ID.test(secret)) {
    throw new MeshError(
      "ERR_ROOM_NOT_FOUND",
      `not a room URL (expected http(s)://host/room/<id>#<secret>): ${u.origin}${u.pathname}${u.hash === "" ? "" : "#<secret>"}`,
    );
  }
  return { origin: u.origin, signalUrl: signalUrl(u.origin), roomId, secret };
}
