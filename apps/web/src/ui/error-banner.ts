// The page's one place for errors (data-testid="error"): each entry shows its code (ERR_PEER_LOST,
// ERR_ROOM_FULL, ERR_ROOM_BUSY with the queue position, ERR_ROOM_SECRET, ERR_MODEL_LOAD, ...) and message,
// can carry an action button ("Start over") and is dismissable. installErrorReporter() routes uncaught
// errors and unhandled promise rejections here, so nothing fails silently.

import { codeOf, messageOf } from "../errors.ts";
import { fill, h } from "./dom.ts";

export interface ErrorAction {
  label: string;
  run: () => void;
}

interface Entry {
  key: string;
  code: string;
  message: string;
  action: ErrorAction | undefined;
}

export class ErrorBanner {
  readonly element: HTMLElement;
  #entries: Entry[] = [];

  constructor() {
    this.element = h("div", {
      class: "errors",
      "data-testid": "error",
      role: "alert",
      "aria-live": "assertive",
      hidden: true,
    });
  }

  /** Shows `e` with its code; an entry with the same key (default: the code) is replaced. */
  show(e: unknown, options: { key?: string; action?: ErrorAction } = {}): void {
    const code = codeOf(e);
    this.showCode(code, messageOf(e), options);
  }

  showCode(
    code: string,
    message: string,
    options: { key?: string; action?: ErrorAction } = {},
  ): void {
    const key = options.key ?? code;
    const entry: Entry = { key, code, message, action: options.action };
    this.#entries = [...this.#entries.filter((x) => x.key !== key), entry].slice(-5);
    this.#render();
  }

  /** Removes the entry with this key (or every entry). */
  clear(key?: string): void {
    this.#entries = key === undefined ? [] : this.#entries.filter((x) => x.key !== key);
    this.#render();
  }

  has(key: string): boolean {
    return this.#entries.some((x) => x.key === key);
  }

  #render(): void {
    fill(
      this.element,
      ...this.#entries.map((x) =>
        h(
          "div",
          { class: "error-entry", "data-code": x.code },
          h("code", { class: "error-code" }, x.code),
          h("span", { class: "error-message" }, x.message),
          x.action === undefined
            ? null
            : h(
                "button",
                { type: "button", class: "error-action", onclick: x.action.run },
                x.action.label,
              ),
          h(
            "button",
            {
              type: "button",
              class: "error-dismiss",
              "aria-label": `Dismiss ${x.code}`,
              onclick: () => this.clear(x.key),
            },
            "×",
          ),
        ),
      ),
    );
    this.element.hidden = this.#entries.length === 0;
  }
}

/** Shows uncaught errors and unhandled rejections in the banner; returns the uninstall function. */
export function installErrorReporter(banner: ErrorBanner, target: Window = window): () => void {
  const onRejection = (ev: PromiseRejectionEvent): void => {
    banner.show(ev.reason, { key: `uncaught:${codeOf(ev.reason)}` });
  };
  const onError = (ev: ErrorEvent): void => {
    banner.show(ev.error ?? ev.message, { key: `uncaught:${codeOf(ev.error ?? ev.message)}` });
  };
  target.addEventListener("unhandledrejection", onRejection);
  target.addEventListener("error", onError);
  return () => {
    target.removeEventListener("unhandledrejection", onRejection);
    target.removeEventListener("error", onError);
  };
}
