// Landing page: what pipemesh does in two sentences, and "Create room": asks the signaling server for a
// room for the embedded default model (its geometry from config.json) and shows the shareable URL with a
// copy button and a link into the room.

import { SignalingClient } from "@pipemesh/mesh";
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
      result,
    ),
  );
  create.addEventListener("click", () => {
    create.disabled = true;
    fill(result, h("p", { class: "muted" }, "Creating a room…"));
    createRoom(ctx, abort.signal).then(
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
        create.disabled = false;
      },
      (e: unknown) => {
        fill(result);
        ctx.errors.show(e, { key: "create-room" });
        create.disabled = false;
      },
    );
  });
  return {
    element,
    destroy: () => abort.abort(),
  };
}

async function createRoom(
  ctx: PageContext,
  signal: AbortSignal,
): Promise<{ url: string; href: string; summary: string }> {
  ctx.errors.clear("create-room");
  const source = await fetchDefaultModel(ctx.app.modelsBaseUrl, signal);
  const config = await loadTargetConfig(source, signal);
  const model = modelInfoFor(source.id, config, kvSizing(config, ctx.app).kvCells);
  const client = await SignalingClient.connect(ctx.app.signalingUrl, { signal });
  try {
    const { roomId, secret } = await client.createRoom(model);
    const url = roomUrl(ctx.origin, roomId, secret);
    const route = parseRoute(url);
    const total = model.layerBytes * model.layerCount + model.embedBytes + model.headBytes;
    return {
      url,
      href: routeHref(route, ctx.search),
      summary: `${source.name} (${model.layerCount} layers, ${formatBytes(total)})`,
    };
  } finally {
    client.destroy();
  }
}
