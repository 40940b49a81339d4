// `npm run bench:engine`: Node entry of the engine benchmark (registers the TypeScript loader first).
import "../src/node/register.mjs";
await import("./engine-bench.ts");
