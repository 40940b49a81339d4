// Bootstrap for `npm run bench:mesh`: registers tsx (Node 20 cannot run TypeScript), then runs the bench.
import { register } from "tsx/esm/api";

register();
await import("./mesh-bench.ts");
