// Node entry of the matmul variant study (registers the TypeScript loader first).
import "../../src/node/register.mjs";
await import("./variants.ts");
