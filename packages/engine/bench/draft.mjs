// `npm run bench:draft`: Node entry of the draft benchmark (registers the TypeScript loader first).
import "../src/node/register.mjs";
await import("./draft.ts");
