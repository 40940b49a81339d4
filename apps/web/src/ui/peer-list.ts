// The room's live peer list (data-testid="peer-list") and its pipeline as stages in order, rendered from
// the room state. A table on wide screens; each row stacks into a card under 600 px (styles.css).

import type { RoomState } from "@pipemesh/mesh";
import { memberRows, statusText } from "../room/member-status.ts";
import { fill, formatBytes, h } from "./dom.ts";

/** Renders the peer list into `table`; `self` are this tab's own peer ids. */
export function renderPeerList(
  table: HTMLTableElement,
  state: RoomState,
  self: ReadonlySet<string>,
): void {
  const rows = memberRows(state);
  const head = h(
    "thead",
    {},
    h(
      "tr",
      {},
      ...["Name", "Role", "Adapter", "Memory budget", "Layers", "Status", "Speed"].map((t) =>
        h("th", { scope: "col" }, t),
      ),
    ),
  );
  const body = h(
    "tbody",
    {},
    ...rows.map((r) =>
      h(
        "tr",
        { "data-peer-id": r.peerId, "data-status": r.status, "data-role": r.role },
        h(
          "td",
          { "data-label": "Name" },
          r.name,
          self.has(r.peerId) ? h("em", {}, " (you)") : null,
        ),
        h("td", { "data-label": "Role" }, r.role),
        h("td", { "data-label": "Adapter", class: "adapter" }, r.adapter),
        h(
          "td",
          { "data-label": "Memory budget" },
          r.role === "chat" ? "—" : formatBytes(r.memoryBudgetBytes),
        ),
        h("td", { "data-label": "Layers", "data-testid": "peer-layers" }, r.layers || "—"),
        h(
          "td",
          { "data-label": "Status" },
          h("span", { class: `status status-${r.status}` }, statusText(r)),
          r.queuePosition === null ? null : ` #${r.queuePosition}`,
        ),
        h(
          "td",
          { "data-label": "Speed" },
          r.role === "chat" ? "—" : `${r.gflops.toFixed(r.gflops < 10 ? 2 : 1)} GFLOP/s`,
        ),
      ),
    ),
  );
  fill(table, h("caption", { class: "sr-only" }, "Peers in this room"), head, body);
}

/** The pipeline as its stages in order (or why there is none). */
export function renderStages(list: HTMLElement, state: RoomState, self: ReadonlySet<string>): void {
  const plan = state.plan;
  if (plan === null) {
    fill(
      list,
      h(
        "li",
        { class: "stage none" },
        state.planError === null
          ? "No pipeline yet: waiting for contributors."
          : `No pipeline: ${state.planError.message}. Contributors with more memory are needed.`,
      ),
    );
    return;
  }
  const names = new Map(state.members.map((m) => [m.peerId, m.caps.name ?? m.peerId.slice(0, 8)]));
  fill(
    list,
    ...plan.stages.map((s, i) => {
      const parts = [
        plan.headId === s.peerId ? "embeddings" : "",
        s.layerEnd > s.layerStart ? `layers ${s.layerStart}–${s.layerEnd}` : "",
        i === plan.stages.length - 1 ? "LM head" : "",
      ].filter((x) => x !== "");
      return h(
        "li",
        { class: "stage" },
        h("span", { class: "stage-index" }, String(i + 1)),
        h(
          "span",
          { class: "stage-peer" },
          names.get(s.peerId) ?? s.peerId,
          self.has(s.peerId) ? " (you)" : "",
        ),
        h("span", { class: "stage-layers" }, parts.join(" + ")),
      );
    }),
  );
  list.dataset["stages"] = String(plan.stages.length);
  list.dataset["ready"] = String(state.ready);
}
