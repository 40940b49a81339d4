// A stage peer in its own process (for killed-peer tests): joins the room given on the command line with a
// toy loader, and reports over IPC: {event: "joined", peerId}, {event: "serving"}. Killed by the test.
import { PeerNode } from "../../src/room/peer-node.ts";
import { ToyModel } from "./toy-model.ts";
import { peerOptions, TOY_SPEC } from "./toy-room.ts";

const [url, roomId, secret] = process.argv.slice(3);
if (url === undefined || roomId === undefined || secret === undefined)
  throw new Error("usage: stage-process <url> <room> <secret>");
const model = new ToyModel(TOY_SPEC);
const send = (msg: object): void => {
  process.send?.(msg);
};
const node = await PeerNode.join(
  peerOptions(url, { roomId, secret }, model, {
    onEvent: (e) => {
      if (e.type === "session" && e.status === "serving") send({ event: "serving" });
    },
  }),
);
send({ event: "joined", peerId: node.peerId });
process.on("disconnect", () => {
  node.destroy();
  process.exit(0);
});
