// Chat: a prompt box, streaming replies with the accepted draft tokens marked, a stop button, temperature,
// the decoding mode (pipeinfer / speculative / plain) and max tokens, per-reply stats (tokens/s, acceptance
// rate, cancelled runs), "New chat" to start over, and the pipeline picture of the latest reply. The chat
// template is applied by the controller; follow-ups continue the conversation without recomputing it.

import {
  DECODE_MODES,
  type DecodeMode,
  type GenerationMetrics,
  type RoomState,
} from "@pipemesh/mesh";
import { ChatController, type ReplyPiece, type ReplyResult } from "../chat/chat-controller.ts";
import { describeChatError } from "../chat/describe-error.ts";
import { codeOf } from "../errors.ts";
import { PipelineTimeline } from "../pipeline-view/timeline.ts";
import type { RoomClient } from "../room/room-client.ts";
import { fill, h } from "../ui/dom.ts";
import type { PageContext } from "./page.ts";

const MODE_TEXT: Record<DecodeMode, string> = {
  pipeinfer: "PipeInfer (async speculation)",
  speculative: "Speculative (synchronous)",
  plain: "Plain (no draft)",
};

export class ChatView {
  readonly element: HTMLElement;
  readonly #ctx: PageContext;
  readonly #room: RoomClient;
  readonly #controller: ChatController;
  readonly #timeline: PipelineTimeline;
  readonly #offRoom: () => void;
  readonly #transcript = h("div", {
    class: "transcript",
    "data-testid": "output",
    "data-state": "empty",
    "aria-live": "polite",
    "aria-label": "Conversation",
    tabindex: 0,
  });
  readonly #prompt = h("textarea", {
    id: "prompt",
    rows: 2,
    placeholder: "Ask the model something…",
    "data-testid": "prompt",
    "aria-label": "Message",
  });
  readonly #send = h("button", { type: "submit", class: "primary", "data-testid": "send" }, "Send");
  readonly #stop = h("button", { type: "button", "data-testid": "stop", disabled: true }, "Stop");
  readonly #mode = h("select", { id: "mode", "data-testid": "mode" });
  readonly #temperature = h("input", {
    id: "temperature",
    type: "number",
    min: 0,
    max: 2,
    step: 0.1,
    value: 0,
    "data-testid": "temperature",
  });
  readonly #maxTokens = h("input", {
    id: "max-tokens",
    type: "number",
    min: 1,
    max: 2048,
    step: 1,
    value: 128,
    "data-testid": "max-tokens",
  });
  readonly #status = h("p", { class: "chat-status muted", "aria-live": "polite" });
  readonly #stats = h("p", { class: "stats", "data-testid": "stats" }, "No reply yet.");
  #preparing = false;
  /** Names of every member seen (a peer that left is no longer in the state). */
  readonly #names = new Map<string, string>();
  #destroyed = false;

  constructor(ctx: PageContext, room: RoomClient) {
    this.#ctx = ctx;
    this.#room = room;
    this.#controller = new ChatController(room);
    this.#timeline = new PipelineTimeline(this.#controller.log);
    for (const m of DECODE_MODES.toReversed()) {
      this.#mode.append(h("option", { value: m }, MODE_TEXT[m]));
    }
    this.#mode.value = "pipeinfer";
    const form = h(
      "form",
      { class: "composer" },
      this.#prompt,
      h("div", { class: "composer-buttons" }, this.#send, this.#stop),
    );
    this.element = h(
      "section",
      { class: "view chat", "aria-label": "Chat" },
      h(
        "div",
        { class: "card chat-card" },
        h(
          "div",
          { class: "chat-settings" },
          h("label", { for: "mode" }, "Mode ", this.#mode),
          h("label", { for: "temperature" }, "Temperature ", this.#temperature),
          h("label", { for: "max-tokens" }, "Max tokens ", this.#maxTokens),
          h(
            "button",
            { type: "button", "data-testid": "new-chat", onclick: () => void this.#startOver() },
            "New chat",
          ),
        ),
        this.#transcript,
        this.#status,
        form,
        this.#stats,
        h(
          "p",
          { class: "muted small" },
          h("mark", { class: "draft" }, "Highlighted"),
          " text was proposed by the draft model and accepted by the full model.",
        ),
      ),
      h("div", { class: "card" }, this.#timeline.element),
    );
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.#submit();
    });
    this.#prompt.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        void this.#submit();
      }
    });
    this.element.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && this.#controller.generating) this.#controller.stop();
    });
    this.#stop.addEventListener("click", () => this.#controller.stop());
    this.#offRoom = room.on((e) => {
      if (e.type === "queued") {
        ctx.errors.showCode(
          "ERR_ROOM_BUSY",
          `the room is generating for someone else; you are #${e.position} in the queue`,
          { key: "queue" },
        );
      }
      if (e.type === "state") this.#onState(e.state);
    });
    this.#onState(room.state);
  }

  /**
   * The chat page is shown: load the tokenizer and the draft model now (not when the room is joined, so
   * tabs that only contribute never load a drafter), and focus the prompt box.
   */
  activate(): void {
    this.#prompt.focus();
    if (this.#preparing) return;
    this.#preparing = true;
    this.#controller
      .prepare((s) => this.#setStatus(s))
      .then(
        (p) => {
          if (p.drafter === null) {
            for (const o of this.#mode.options) if (o.value !== "plain") o.disabled = true;
            this.#mode.value = "plain";
          } else {
            // For automation: which drafter this tab runs, and whether it is a fallback.
            this.#status.dataset["drafter"] = p.drafter.name;
            if (p.drafter.fallbackReason !== undefined)
              this.#status.dataset["drafterFallback"] = "1";
          }
          this.#setStatus(
            p.drafter === null
              ? "This model has no draft model: plain decoding only."
              : `Draft model: ${p.drafter.name}${p.drafter.fallbackReason === undefined ? "" : " (fallback)"}.`,
          );
        },
        (e: unknown) => {
          this.#preparing = false;
          this.#ctx.errors.show(e, { key: "chat-model" });
        },
      );
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#offRoom();
    this.#timeline.destroy();
    this.#controller.destroy();
  }

  #setStatus(text: string): void {
    this.#status.textContent = text;
  }

  #onState(state: RoomState): void {
    for (const m of state.members) this.#names.set(m.peerId, m.caps.name ?? m.peerId);
    if (!state.queue.includes(this.#room.peerId)) this.#ctx.errors.clear("queue");
    if (this.#controller.generating && state.active !== this.#room.peerId) {
      this.#setStatus(
        state.planError !== null
          ? `Waiting for contributors (${state.planError.code}: ${state.planError.message}).`
          : state.active === null
            ? "Waiting for the room…"
            : "Waiting for the pipeline…",
      );
    }
  }

  async #startOver(): Promise<void> {
    await this.#controller.startOver();
    fill(this.#transcript);
    this.#transcript.dataset["state"] = "empty";
    delete this.#transcript.dataset["tokenIds"];
    this.#stats.textContent = "No reply yet.";
    this.#ctx.errors.clear("chat");
    this.#prompt.focus();
  }

  async #submit(): Promise<void> {
    const text = this.#prompt.value.trim();
    if (text === "" || this.#controller.generating) return;
    this.#prompt.value = "";
    this.#ctx.errors.clear("chat");
    this.#send.disabled = true;
    this.#stop.disabled = false;
    const reply = h("div", { class: "msg assistant", "aria-busy": "true" });
    this.#transcript.append(h("div", { class: "msg user" }, text), reply);
    this.#transcript.dataset["state"] = "streaming";
    this.#transcript.dataset["tokenIds"] = "";
    delete this.#transcript.dataset["stopTokenId"];
    const render = (pieces: readonly ReplyPiece[], ids: readonly number[]): void => {
      fill(
        reply,
        ...pieces.map((p) => (p.fromDraft ? h("mark", { class: "draft" }, p.text) : p.text)),
      );
      this.#transcript.dataset["tokenIds"] = ids.join(",");
      this.#transcript.scrollTop = this.#transcript.scrollHeight;
    };
    const result = await this.#controller.send(
      text,
      {
        mode: this.#mode.value as DecodeMode,
        temperature: Math.max(0, Number(this.#temperature.value) || 0),
        maxTokens: Math.max(1, Math.floor(Number(this.#maxTokens.value) || 1)),
      },
      { onStatus: (s) => this.#setStatus(s), onReply: render },
    );
    reply.removeAttribute("aria-busy");
    if (result.finishReason === "abort" || result.finishReason === "error") {
      reply.append(
        h(
          "span",
          { class: "reply-note" },
          result.finishReason === "abort" ? " (stopped)" : ` (failed: ${codeOf(result.error)})`,
        ),
      );
    }
    this.#finish(result);
    this.#send.disabled = false;
    this.#stop.disabled = true;
    if (!this.#destroyed) this.#prompt.focus();
  }

  #finish(r: ReplyResult): void {
    const state =
      r.finishReason === "error" ? "error" : r.finishReason === "abort" ? "stopped" : "done";
    this.#transcript.dataset["state"] = state;
    this.#transcript.dataset["tokenIds"] = r.tokens.join(",");
    if (r.stopTokenId !== undefined)
      this.#transcript.dataset["stopTokenId"] = String(r.stopTokenId);
    this.#stats.textContent =
      r.metrics === null ? `${r.tokens.length} tokens (${state})` : statsLine(r.metrics);
    if (r.error !== null && r.error !== undefined) {
      const { code, message } = describeChatError(r.error, (id) => this.#names.get(id));
      this.#ctx.errors.showCode(code, message, {
        key: "chat",
        ...(r.contextFull
          ? { action: { label: "Start over", run: () => void this.#startOver() } }
          : {}),
      });
    }
  }
}

function statsLine(m: GenerationMetrics): string {
  const parts = [
    `${m.generatedTokens} tokens`,
    `${m.tokensPerSecond.toFixed(1)} tokens/s`,
    m.mode === "plain" ? null : `acceptance ${Math.round(m.acceptanceRate * 100)} %`,
    `${m.runsCancelled} cancelled runs`,
    `first token ${Math.round(m.ttftMs)} ms`,
    m.reusedTokens > 0 ? `${m.reusedTokens} context tokens reused` : null,
    m.recoveries.length === 0
      ? null
      : `recovered from ${m.recoveries.length} lost contributor${m.recoveries.length > 1 ? "s" : ""} (${m.recoveries
          .map((r) => `${Math.round((r.recoveredMs ?? r.replaceMs) / 100) / 10} s`)
          .join(", ")})`,
    m.mode,
  ];
  return parts.filter((p) => p !== null).join(" · ");
}
