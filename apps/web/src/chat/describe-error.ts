// Plain words for the failures a chat reply can end with: which contributor left or failed (by its name in
// the room), what happens next (the room re-plans; send again), and how many tokens were kept. The code is
// shown next to it unchanged. Pure (unit-tested).

import { codeOf, messageOf } from "../errors.ts";

function detailsChain(e: unknown): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 5 && cur !== null && typeof cur === "object"; i++) {
    const d = (cur as { details?: unknown }).details;
    if (d !== null && typeof d === "object") out.push(d as Record<string, unknown>);
    cur = (cur as { cause?: unknown }).cause;
  }
  return out;
}

/** The error's code and a message that says who and what next. */
export function describeChatError(
  e: unknown,
  nameOf: (peerId: string) => string | undefined,
): { code: string; message: string } {
  const code = codeOf(e);
  const details = detailsChain(e);
  const peerId = details.map((d) => d["peerId"]).find((p) => typeof p === "string");
  const tokens = details.map((d) => d["tokens"]).find((t) => Array.isArray(t)) as
    unknown[] | undefined;
  const who = typeof peerId === "string" ? (nameOf(peerId) ?? `peer ${peerId}`) : "a contributor";
  const kept =
    tokens === undefined || tokens.length === 0
      ? ""
      : ` The ${tokens.length} token${tokens.length === 1 ? "" : "s"} before it are kept.`;
  switch (code) {
    case "ERR_PEER_LOST":
      return {
        code,
        message:
          `${who} left in the middle of the reply.${kept} The room is re-planning without it: ` +
          "send a message to continue with the remaining peers.",
      };
    case "ERR_STAGE_FAILED":
      return {
        code,
        message: `${who} failed to compute its layers (${messageOf(e)}).${kept} Send again to retry.`,
      };
    case "ERR_PLAN_STALE":
      return {
        code,
        message: `the pipeline changed during the reply.${kept} Send again to continue.`,
      };
    default:
      return { code, message: messageOf(e) };
  }
}
