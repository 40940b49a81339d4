// A fetch that follows redirects itself so a bearer token goes only to one origin (the Hub endpoint's): the
// token is added to a request whose URL is on that origin and never to a redirect target elsewhere (the
// Hub's CDN) nor to anything else. It also hands back every hop's response headers, since the Hub puts
// X-Repo-Commit, X-Linked-Etag and X-Linked-Size on its redirect, not on the CDN's answer.
// Where redirects cannot be followed by hand (a browser answers `manual` with an opaque redirect), it lets
// the platform follow them: the Fetch standard drops Authorization on a cross-origin redirect.
// Not a cache and not a retry loop; HttpSource/HttpModelDir take it through their `fetch` option.

import { EngineError } from "../../errors.ts";
import type { FetchFn } from "../http-source.ts";

export const MAX_REDIRECTS = 10;

export interface ScopedFetchOptions {
  /** The token; undefined or "" sends none. */
  token?: string | undefined;
  /** The only origin (e.g. "https://huggingface.co") that receives the token. */
  origin: string;
  /** The underlying fetch (default: globalThis.fetch). */
  fetch?: FetchFn | undefined;
}

/** The final response and the headers of each response on the way (redirects first, the final last). */
export interface FollowedResponse {
  response: Response;
  hops: Headers[];
  /** The final URL. */
  url: string;
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "";
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function withHeaders(init: RequestInit | undefined, auth: string | undefined): Headers {
  const headers = new Headers(init?.headers);
  headers.delete("authorization"); // a caller's own Authorization never leaves the scoping either
  if (auth !== undefined) headers.set("authorization", auth);
  return headers;
}

/** Fetches `url`, following redirects by hand; the token only goes to `options.origin`. */
export async function followScoped(
  url: string,
  init: RequestInit | undefined,
  options: ScopedFetchOptions,
): Promise<FollowedResponse> {
  const fetchFn = options.fetch ?? ((input, i) => globalThis.fetch(input, i));
  const origin = originOf(options.origin);
  const token = options.token === "" ? undefined : options.token;
  const auth = (u: string): string | undefined =>
    token !== undefined && origin !== "" && originOf(u) === origin ? `Bearer ${token}` : undefined;
  const hops: Headers[] = [];
  let current = url;
  let method = init?.method ?? "GET";
  for (let n = 0; ; n++) {
    const res = await fetchFn(current, {
      ...init,
      method,
      headers: withHeaders(init, auth(current)),
      redirect: "manual",
    });
    if (res.type === "opaqueredirect") {
      // A browser: the platform follows, dropping Authorization when the origin changes.
      const followed = await fetchFn(current, {
        ...init,
        method,
        headers: withHeaders(init, auth(current)),
        redirect: "follow",
      });
      hops.push(followed.headers);
      return { response: followed, hops, url: followed.url === "" ? current : followed.url };
    }
    const location = res.headers.get("location");
    if (!REDIRECTS.has(res.status) || location === null) {
      hops.push(res.headers);
      return { response: res, hops, url: current };
    }
    hops.push(res.headers);
    await res.body?.cancel();
    if (n >= MAX_REDIRECTS) {
      throw new EngineError("ERR_FETCH", `${url}: more than ${MAX_REDIRECTS} redirects`);
    }
    current = new URL(location, current).href;
    if (res.status === 303 && method !== "HEAD") method = "GET";
  }
}

/** A FetchFn for HttpSource/HttpModelDir that follows redirects with the token scoped to one origin. */
export function scopedFetch(options: ScopedFetchOptions): FetchFn {
  return async (input, init) => (await followScoped(input, init, options)).response;
}
