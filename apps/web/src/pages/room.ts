// The room: joins on open (leave and join again from the header), says plainly that peers see the
// activations they compute, and hosts three pages behind tabs: the room overview (shareable URL, the
// pipeline's stages in order, the live peer list), Contribute and Chat. Switching tabs keeps the
// contribution and the conversation running; leaving ends both.

import type { RoomState } from "@pipemesh/mesh";
import { RoomClient } from "../room/room-client.ts";
import { tabName } from "../room/caps.ts";
import { routeHref, type RoomView } from "../router.ts";
import { copyText, fill, h } from "../ui/dom.ts";
import { renderPeerList, renderStages } from "../ui/peer-list.ts";
import { describeJoinError } from "../room/describe-join-error.ts";
import { ChatView } from "./chat.ts";
import { ContributeView } from "./contribute.ts";
import type { Page, PageContext } from "./page.ts";

export interface RoomPage extends Page {
  readonly roomId: string;
  readonly secret: string;
  show(view: RoomView): void;
}

const VIEWS: { view: RoomView; label: string }[] = [
  { view: "room", label: "Room" },
  { view: "contribute", label: "Contribute GPU" },
  { view: "chat", label: "Chat" },
];

export function roomPage(
  ctx: PageContext,
  route: { roomId: string; secret: string; view: RoomView },
): RoomPage {
  const name = tabName();
  let current: RoomView = route.view;
  let client: RoomClient | null = null;
  let contribute: ContributeView | null = null;
  let chat: ChatView | null = null;
  let offRoom: () => void = () => {};
  let destroyed = false;

  const title = h("h1", {}, `Room ${route.roomId}`);
  const modelLine = h("p", { class: "muted model-line" }, "Joining…");
  const joinButton = h("button", { type: "button", "data-testid": "join" }, "Join");
  const leaveButton = h("button", { type: "button", "data-testid": "leave" }, "Leave room");
  const tabs = h("nav", { class: "tabs", "aria-label": "Room pages" });
  const outlet = h("div", { class: "views" });
  const overview = h("section", { class: "view overview", "aria-label": "Room overview" });
  const stages = h("ol", { class: "stages", "aria-label": "Pipeline stages in order" });
  const peers = h("table", { class: "peers", "data-testid": "peer-list" });
  const shareInput = h("input", {
    type: "text",
    readonly: true,
    class: "room-url",
    "aria-label": "Shareable room URL",
  });
  const copied = h("span", { class: "muted", "aria-live": "polite" });
  fill(
    overview,
    h(
      "div",
      { class: "card" },
      h("h2", {}, "Invite"),
      h("p", {}, "Anyone with this link can join, contribute and chat:"),
      h(
        "div",
        { class: "url-row" },
        shareInput,
        h(
          "button",
          {
            type: "button",
            onclick: () => {
              void copyText(shareInput.value, shareInput).then((ok) => {
                copied.textContent = ok ? "Copied." : "Selected: press Ctrl+C to copy.";
              });
            },
          },
          "Copy",
        ),
      ),
      copied,
    ),
    h("div", { class: "card" }, h("h2", {}, "Pipeline"), stages),
    h("div", { class: "card" }, h("h2", {}, "Peers"), h("div", { class: "table-wrap" }, peers)),
  );

  const element = h(
    "main",
    { class: "page room" },
    h(
      "header",
      { class: "room-head" },
      h("div", {}, title, modelLine),
      h("div", { class: "room-actions" }, joinButton, leaveButton),
    ),
    h(
      "p",
      { class: "privacy", role: "note" },
      h("strong", {}, "Privacy: "),
      "the peers in this room compute on, and can see, the activations of every prompt sent through ",
      "them (and the last one sees the replies). Only chat here with people you trust with your prompts.",
    ),
    tabs,
    outlet,
  );

  const selfIds = (): Set<string> => {
    const ids = new Set<string>();
    if (client !== null) ids.add(client.peerId);
    if (contribute?.peerId !== undefined) ids.add(contribute.peerId);
    return ids;
  };

  const renderState = (state: RoomState): void => {
    const m = state.model;
    modelLine.textContent = `Model ${m.id} · ${m.layerCount} layers · you are ${name}`;
    renderStages(stages, state, selfIds());
    renderPeerList(peers, state, selfIds());
  };

  const renderTabs = (): void => {
    fill(
      tabs,
      ...VIEWS.map(({ view, label }) => {
        const href = routeHref(
          { page: "room", view, roomId: route.roomId, secret: route.secret },
          ctx.search,
        );
        return h(
          "a",
          {
            href,
            class: "tab",
            "data-view": view,
            "aria-current": view === current ? "page" : false,
            onclick: (ev: Event) => {
              ev.preventDefault();
              ctx.navigate(href);
            },
          },
          label,
        );
      }),
    );
    const views: Record<RoomView, HTMLElement | null> = {
      room: client === null ? null : overview,
      contribute: contribute?.element ?? null,
      chat: chat?.element ?? null,
    };
    const placeholder = h(
      "p",
      { class: "muted view placeholder" },
      client === null
        ? "You are not in this room: join it to see its peers, contribute or chat."
        : "",
    );
    const active = views[current] ?? placeholder;
    fill(
      outlet,
      overview,
      contribute?.element ?? null,
      chat?.element ?? null,
      active === placeholder ? placeholder : null,
    );
    for (const el of [overview, contribute?.element, chat?.element]) {
      if (el !== undefined) el.hidden = el !== active;
    }
  };

  const leave = (): void => {
    offRoom();
    offRoom = () => {};
    contribute?.destroy();
    chat?.destroy();
    contribute = null;
    chat = null;
    client?.leave();
    client = null;
    joinButton.hidden = false;
    leaveButton.hidden = true;
    modelLine.textContent = "You are not in this room.";
    fill(stages);
    fill(peers);
    renderTabs();
  };

  const join = (): void => {
    joinButton.hidden = true;
    leaveButton.hidden = true;
    modelLine.textContent = "Joining…";
    ctx.errors.clear("join");
    RoomClient.join({
      app: ctx.app,
      roomId: route.roomId,
      secret: route.secret,
      name,
      origin: ctx.origin,
    }).then(
      (c) => {
        if (destroyed) {
          c.leave();
          return;
        }
        client = c;
        shareInput.value = c.url;
        leaveButton.hidden = false;
        contribute = new ContributeView(ctx, c, () => renderState(c.state));
        chat = new ChatView(ctx, c);
        offRoom = c.on((e) => {
          if (e.type === "state") renderState(e.state);
          if (e.type === "left" && e.error !== null) {
            ctx.errors.show(e.error, { key: "join" });
            leave();
          }
        });
        renderState(c.state);
        renderTabs();
        if (current === "chat") chat.activate();
        if (current === "contribute") contribute.activate();
      },
      (e: unknown) => {
        const { code, message } = describeJoinError(e);
        ctx.errors.showCode(code, message, {
          key: "join",
          action: { label: "Try again", run: join },
        });
        renderTabs();
        joinButton.hidden = false;
        modelLine.textContent = "Could not join this room.";
      },
    );
  };

  joinButton.addEventListener("click", join);
  leaveButton.addEventListener("click", leave);
  joinButton.hidden = true;
  leaveButton.hidden = true;
  renderTabs();
  join();

  return {
    element,
    roomId: route.roomId,
    secret: route.secret,
    show(view) {
      current = view;
      renderTabs();
      if (view === "chat") chat?.activate();
      if (view === "contribute") contribute?.activate();
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      leave();
    },
  };
}
