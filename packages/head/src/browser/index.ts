// @pipemesh/head/browser: a tab as a room's head. connect(roomUrl) is the in-page client (OpenAI-shaped
// chat.completions and completions over the room); openRoomHead, the room's model resolution and the
// browser stage loader are the pieces the web app builds its pages from.
export { connect, headCaps, type ConnectOptions, type RoomConnection } from "./connect.ts";
export { openRoomHead, type OpenRoomHeadOptions } from "./room-head.ts";
export {
  fetchDefaultModel,
  modelPath,
  parseDefaultModel,
  resolveModelSource,
  roomModelSource,
  type DefaultModelFile,
  type ModelSource,
} from "./model-source.ts";
export { browserStageLoader, type BrowserStageLoaderOptions } from "./stage-loader.ts";
