// The in-page client on the app's pages: with `?client=1` the page gets globalThis.pipemesh.connect, which
// is @pipemesh/head/browser's connect(roomUrl) with this app's settings (models, RTC, peer timeout, draft
// model, context cap), for automation and the browser console. Without the switch nothing is exposed.

import { connect, type ConnectOptions, type RoomConnection } from "@pipemesh/head/browser";
import { loadAppConfig } from "../config.ts";
import { rtcOptions } from "../room/room-client.ts";

/** connect() with the app's configuration as defaults. */
export function appConnect(roomUrl: string, o: ConnectOptions = {}): Promise<RoomConnection> {
  const app = loadAppConfig();
  return connect(roomUrl, {
    modelsBaseUrl: app.modelsBaseUrl,
    rtc: rtcOptions(app),
    peerTimeoutMs: app.peerTimeoutMs,
    contextCap: app.maxContextTokens,
    draftProvider: app.draftProvider,
    ...(app.drafterKind === "auto" ? {} : { drafterKind: app.drafterKind }),
    ...o,
  });
}

if (typeof location !== "undefined" && new URLSearchParams(location.search).get("client") === "1")
  (globalThis as { pipemesh?: { connect: typeof appConnect } }).pipemesh = { connect: appConnect };
