// Node-only surface of @pipemesh/head: the Node platform (file and URL models, in-process drafter).
export { nodePlatform } from "./node-platform.ts";
