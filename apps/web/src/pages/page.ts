// What every page gets from the shell (configuration, the error banner, navigation) and gives back (its
// element and an idempotent destroy). Types only.

import type { AppConfig } from "../config.ts";
import type { ErrorBanner } from "../ui/error-banner.ts";

export interface PageContext {
  app: AppConfig;
  errors: ErrorBanner;
  /** Client-side navigation to an app path (the query string is kept). */
  navigate: (href: string) => void;
  /** The page's query string ("" or "?loopback=1"), carried into links. */
  search: string;
  /** This page's origin (for shareable URLs). */
  origin: string;
}

export interface Page {
  readonly element: HTMLElement;
  destroy(): void;
}
