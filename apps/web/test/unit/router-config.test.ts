// Routes (the room link's secret in the fragment, the query carried along) and the app configuration
// (env variables and the automation query switches, with coded errors for malformed values).

import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.ts";
import { codeOf } from "../../src/errors.ts";
import { parseRoute, routeHref } from "../../src/router.ts";

describe("parseRoute / routeHref", () => {
  it("reads the landing page, the room and its pages", () => {
    expect(parseRoute("http://h/")).toEqual({ page: "landing" });
    expect(parseRoute("http://h/room/abc#s3cret")).toEqual({
      page: "room",
      view: "room",
      roomId: "abc",
      secret: "s3cret",
    });
    expect(parseRoute("http://h/room/abc/chat?loopback=1#s3cret")).toMatchObject({
      view: "chat",
      roomId: "abc",
    });
    expect(parseRoute("http://h/room/abc/contribute/#x")).toMatchObject({ view: "contribute" });
  });

  it("refuses a room link without its secret and unknown paths", () => {
    expect(parseRoute("http://h/room/abc")).toMatchObject({ page: "not-found" });
    expect(parseRoute("http://h/room/a%2Fb#x")).toMatchObject({ page: "not-found" });
    expect(parseRoute("http://h/elsewhere")).toMatchObject({ page: "not-found" });
  });

  it("builds hrefs that parse back, keeping the query", () => {
    const route = { page: "room", view: "chat", roomId: "r1", secret: "s.1" } as const;
    const href = routeHref(route, "?loopback=1");
    expect(href).toBe("/room/r1/chat?loopback=1#s.1");
    expect(parseRoute(`http://h${href}`)).toEqual(route);
    expect(routeHref({ page: "landing" }, "?x=1")).toBe("/?x=1");
  });
});

describe("parseConfig", () => {
  it("defaults: same-origin signaling, /models/, no ICE servers of its own, no loopback filter", () => {
    const c = parseConfig({ env: {}, href: "https://mesh.example/room/a#b" });
    expect(c.signalingUrl).toBe("wss://mesh.example/signal");
    expect(c.modelsBaseUrl).toBe("https://mesh.example/models/");
    expect(c.iceServers).toBeUndefined();
    expect(c.loopbackOnly).toBe(false);
    expect(c.fixedGflops).toBeUndefined();
    expect(c.draftProvider).toBe("wasm");
    expect(c.drafterKind).toBe("auto");
  });

  it("reads VITE_PIPEMESH_* variables and the automation query", () => {
    const c = parseConfig({
      env: {
        VITE_PIPEMESH_SIGNALING_URL: "ws://127.0.0.1:9/signal",
        VITE_PIPEMESH_ICE_SERVERS:
          '[{"urls":"turn:t.example:3478","username":"u","credential":"c"}]',
        VITE_PIPEMESH_MODELS_URL: "https://cdn.example/m/",
      },
      href: "http://127.0.0.1:5173/?loopback=1&gflops=2.5&drafter=engine",
    });
    expect(c.signalingUrl).toBe("ws://127.0.0.1:9/signal");
    expect(c.iceServers).toEqual([{ urls: "turn:t.example:3478", username: "u", credential: "c" }]);
    expect(c.modelsBaseUrl).toBe("https://cdn.example/m/");
    expect(c.loopbackOnly).toBe(true);
    expect(c.fixedGflops).toBe(2.5);
    expect(c.drafterKind).toBe("engine");
  });

  it("malformed values are ERR_APP_CONFIG", () => {
    const bad = [
      { env: { VITE_PIPEMESH_ICE_SERVERS: "not json" }, href: "http://h/" },
      { env: { VITE_PIPEMESH_ICE_SERVERS: '[{"url":"x"}]' }, href: "http://h/" },
      { env: { VITE_PIPEMESH_DRAFT_PROVIDER: "gpu" }, href: "http://h/" },
      { env: {}, href: "http://h/?gflops=-1" },
      { env: {}, href: "http://h/?drafter=gpt" },
    ];
    for (const src of bad) {
      let code = "";
      try {
        parseConfig(src);
      } catch (e) {
        code = codeOf(e);
      }
      expect(code, JSON.stringify(src)).toBe("ERR_APP_CONFIG");
    }
  });
});
