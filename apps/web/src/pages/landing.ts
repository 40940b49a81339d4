// Landing page: what pipemesh does in two sentences, and "Create room": asks the signaling server for a
// room for the embedded default model (its geometry from config.json) and shows the shareable URL with a
// copy button and a link into the room; below it, a room for any other model the server serves (listed
// at /models/served.json by `pipemesh serve`; the list is simply absent elsewhere).

import { SignalingClient, type ModelInfo } from "@pipemesh/mesh";
import { fetchDefaultModel, loadTargetConfig, modelInfoFor } from "../model/model-source.ts";
import { parseRoute, routeHref } from "../router.ts";
import { kvSizing } from "../wiring.ts";
import { copyText, fill, formatBytes, h } from "../ui/dom.ts";
import type { Page, PageContext } from "./page.ts";
import { roomUrl } from "@pipemesh/mesh";

export function landingPage(ctx: PageContext): Page {
  const abort = new AbortController();
  const result = h("div", { class: "created", "aria-live": "polite" });
  const create = h(
    "button",
    { type: "button", class: "primary", "data-testid": "create-room" },
    "Create a room",
  );
  const others = h("div", { class: "served-models", "data-testid": "served-models" });
  const element = h(
    "main",
    { class: "page landing" },
    h(
      "section",
      { class: "hero" },
      h("h1", {}, "Run one language model across many browsers"),
      h(
        "p",
        { class: "lede" },
        "Create a room and share its link: every friend who opens it and presses “Contribute GPU” ",
        "holds a slice of the model's layers in their browser. Anyone in the room can then chat with a ",
        "model none of them could run alone, while activations flow from tab to tab over WebRTC and a ",
        "small draft model keeps the pipeline full of speculative runs.",
      ),
      create,
      others,
      result,
    ),
  );
  const start = (button: HTMLButtonElement, make: () => Promise<CreatedRoom>): void => {
    button.disabled = true;
    fill(result, h("p", { class: "muted" }, "Creating a room…"));
    make().then(
      ({ url, href, summary }) => {
        const input = h("input", {
          type: "text",
          readonly: true,
          value: url,
          class: "room-url",
          "data-testid": "room-url",
          "aria-label": "Shareable room URL",
        });
        const copied = h("span", { class: "muted", "aria-live": "polite" });
        fill(
          result,
          h("p", {}, `Room ready for ${summary}. Share this link with the people who will join:`),
          h(
            "div",
            { class: "url-row" },
            input,
            h(
              "button",
              {
                type: "button",
                onclick: () => {
                  void copyText(url, input).then((ok) => {
                    copied.textContent = ok ? "Copied." : "Selected: press Ctrl+C to copy.";
                  });
                },
              },
              "Copy",
            ),
          ),
          copied,
          h(
            "p",
            {},
            h(
              "a",
              {
                href,
                class: "button primary",
                "data-testid": "open-room",
                onclick: (ev: Event) => {
                  ev.preventDefault();
                  ctx.navigate(href);
                },
              },
              "Open the room",
            ),
          ),
        );
        button.disabled = false;
      },
      (e: unknown) => {
        fill(result);
        ctx.errors.show(e, { key: "create-room" });
        button.disabled = false;
      },
    );
  };
  create.addEventListener("click", () => start(create, () => createRoom(ctx, abort.signal)));
  void listServedModels(ctx, abort.signal).then((models) => {
    if (models.length === 0) return;
    fill(
      others,
      h("p", { class: "muted" }, "This server also serves:"),
      h(
        "ul",
        {},
        ...models.map((m) => {
          const button = h(
            "button",
            { type: "button", "data-model": m.id, "data-testid": "create-room-for" },
            `Create a room for ${m.id}`,
          );
          button.addEventListener("click", () =>
            start(button, () => createRoomFor(ctx, m, abort.signal)),
          );
          return h("li", {}, button);
        }),
      ),
    );
  });
  return {
    element,
    destroy: () => abort.abort(),
  };
}

interface CreatedRoom {
  url: string;
  href: string;
  summary: string;
}

async function createRoom(ctx: PageContext, signal: AbortSignal): Promise<CreatedRoom> {
  ctx.errors.clear("create-room");
  const source = await fetchDefaultModel(ctx.app.modelsBaseUrl, signal);
  const config = await loadTargetConfig(source, signal);
  const model = modelInfoFor(source.id, config, kvSizing(config, ctx.app).kvCells);
  return roomFor(ctx, model, source.name, signal);
}

/** A room for a model the server lists (the server uses its own description of it). */
function createRoomFor(
  ctx: PageContext,
  model: ModelInfo,
  signal: AbortSignal,
): Promise<CreatedRoom> {
  ctx.errors.clear("create-room");
  return roomFor(ctx, model, model.id, signal);
}

async function roomFor(
  ctx: PageContext,
  model: ModelInfo,
  name: string,
  signal: AbortSignal,
): Promise<CreatedRoom> {
  const client = await SignalingClient.connect(ctx.app.signalingUrl, { signal });
  try {
    const { roomId, secret } = await client.createRoom(model);
    const url = roomUrl(ctx.origin, roomId, secret);
    const route = parseRoute(url);
    const total = model.layerBytes * model.layerCount + model.embedBytes + model.headBytes;
    return {
      url,
      href: routeHref(route, ctx.search),
      summary: `${name} (${model.layerCount} layers, ${formatBytes(total)})`,
    };
  } finally {
    client.destroy();
  }
}

/** The models the server lists besides the default pair's (none where there is no list). */
async function listServedModels(ctx: PageContext, signal: AbortSignal): Promise<ModelInfo[]> {
  try {
    const res = await fetch(new URL("served.json", ctx.app.modelsBaseUrl), { signal });
    if (!res.ok) return [];
    const json = (await res.json()) as { models?: unknown };
    const def = await fetchDefaultModel(ctx.app.modelsBaseUrl, signal).catch(() => undefined);
    const isDefault = (id: string): boolean =>
      def !== undefined && (id === def.id || id === def.name);
    // The default pair's own entries (its target under either id, its drafts) have the button above.
    const drafts = [def?.draftUrl].filter((u): u is string => u !== undefined);
    const url = (id: string): string =>
      new URL(id, ctx.app.modelsBaseUrl).href.replace(/\/?$/, "/");
    return (Array.isArray(json.models) ? (json.models as ModelInfo[]) : []).filter(
      (m) =>
        typeof m.id === "string" &&
        !isDefault(m.id) &&
        !drafts.includes(url(m.id)) &&
        !/(^|\/)draft-weak$/.test(m.id),
    );
  } catch {
    return [];
  }
}
