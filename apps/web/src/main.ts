// Web app entry: boot (configuration, the error banner and its uncaught-error reporter, styles) and the
// router between the landing page and the room with its Contribute and Chat pages. Nothing else.

import { loadAppConfig } from "./config.ts";
import { landingPage } from "./pages/landing.ts";
import type { Page, PageContext } from "./pages/page.ts";
import { roomPage, type RoomPage } from "./pages/room.ts";
import { parseRoute } from "./router.ts";
import { fill, h } from "./ui/dom.ts";
import { ErrorBanner, installErrorReporter } from "./ui/error-banner.ts";
import "./ui/styles.css";

const root = document.getElementById("app") ?? document.body;
const errors = new ErrorBanner();
installErrorReporter(errors);
const outlet = h("div", { class: "outlet" });
fill(
  root,
  h(
    "header",
    { class: "topbar" },
    h("a", { href: `/${location.search}`, class: "brand", "data-link": true }, "pipemesh"),
    h("span", { class: "tagline" }, "one model, many browsers"),
  ),
  errors.element,
  outlet,
);

let page: Page | null = null;

function render(): void {
  let ctx: PageContext;
  try {
    ctx = {
      app: loadAppConfig(),
      errors,
      navigate,
      search: location.search,
      origin: location.origin,
    };
  } catch (e) {
    errors.show(e);
    return;
  }
  const route = parseRoute(location.href);
  if (route.page === "room") {
    const current = page as RoomPage | null;
    if (
      current !== null &&
      "show" in current &&
      current.roomId === route.roomId &&
      current.secret === route.secret
    ) {
      current.show(route.view);
      return;
    }
  }
  page?.destroy();
  page = null;
  errors.clear();
  if (route.page === "landing") page = landingPage(ctx);
  else if (route.page === "room") page = roomPage(ctx, route);
  else {
    errors.showCode("ERR_ROUTE", route.reason);
    page = {
      element: h(
        "main",
        { class: "page" },
        h("p", {}, h("a", { href: `/${location.search}` }, "Go to the start page")),
      ),
      destroy: () => {},
    };
  }
  fill(outlet, page.element);
  if (route.page === "room") (page as RoomPage).show(route.view);
}

function navigate(href: string): void {
  history.pushState(null, "", href);
  render();
}

document.addEventListener("click", (ev) => {
  const a = (ev.target as Element | null)?.closest?.("a[data-link]");
  if (
    a instanceof HTMLAnchorElement &&
    a.origin === location.origin &&
    !ev.ctrlKey &&
    !ev.metaKey
  ) {
    ev.preventDefault();
    navigate(a.pathname + a.search + a.hash);
  }
});
window.addEventListener("popstate", render);
window.addEventListener("hashchange", render);
window.addEventListener("pagehide", () => page?.destroy());
render();
