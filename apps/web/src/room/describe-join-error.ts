// Plain words for why joining a room failed (the code is shown next to them unchanged): a wrong secret, a
// room that does not exist (any more), a full room, or a server that cannot be reached. Pure.

import { codeOf, messageOf } from "../errors.ts";

export function describeJoinError(e: unknown): { code: string; message: string } {
  const code = codeOf(e);
  switch (code) {
    case "ERR_ROOM_SECRET":
      return {
        code,
        message:
          "this link's secret does not match the room (ask for the full link, including the part after #).",
      };
    case "ERR_ROOM_NOT_FOUND":
      return {
        code,
        message: "this room does not exist, or it closed after everyone left. Create a new one.",
      };
    case "ERR_ROOM_FULL":
      return {
        code,
        message: "the room is full (it takes at most 32 peers). Try again when someone leaves.",
      };
    case "ERR_EVICTED":
      return {
        code,
        message: `the room's head took this tab's layers away (${messageOf(e)}). Contribute again to rejoin.`,
      };
    case "ERR_SIGNALING_CLOSED":
    case "ERR_SIGNALING_TIMEOUT":
      return {
        code,
        message: `cannot reach the room's server (${messageOf(e)}). Check that it is running.`,
      };
    default:
      return { code, message: messageOf(e) };
  }
}
