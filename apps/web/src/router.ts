// Client-side routes: "/" (landing), "/room/<id>#<secret>" (the room), "/room/<id>/contribute#<secret>" and
// "/room/<id>/chat#<secret>" (its other pages). The secret stays in the fragment, which browsers never send
// to the server. The query string (automation switches, see config.ts) is carried along. Pure parsing.

export type RoomView = "room" | "contribute" | "chat";

export type Route =
  | { page: "landing" }
  | { page: "room"; view: RoomView; roomId: string; secret: string }
  | { page: "not-found"; reason: string };

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;

export function parseRoute(href: string): Route {
  const url = new URL(href);
  const path = url.pathname.replace(/\/+$/, "") || "/";
  if (path === "/" || path === "/index.html") return { page: "landing" };
  const m = /^\/room\/([^/]+)(?:\/(contribute|chat))?$/.exec(path);
  if (m === null) return { page: "not-found", reason: `no page at ${url.pathname}` };
  const roomId = safeDecode(m[1] ?? "");
  const secret = safeDecode(url.hash.replace(/^#/, ""));
  if (!ID.test(roomId))
    return { page: "not-found", reason: "the room id in this link is malformed" };
  if (!ID.test(secret)) {
    return {
      page: "not-found",
      reason: "this room link has no secret (the part after #); ask for the full link",
    };
  }
  return { page: "room", view: (m[2] as RoomView | undefined) ?? "room", roomId, secret };
}

/** The path + query + fragment of a route, keeping `search` (e.g. "?loopback=1"). */
export function routeHref(route: Route, search = ""): string {
  if (route.page !== "room") return `/${search}`;
  const view = route.view === "room" ? "" : `/${route.view}`;
  return `/room/${encodeURIComponent(route.roomId)}${view}${search}#${encodeURIComponent(route.secret)}`;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return "";
  }
}
