// Bootstrap for child processes that run mesh TypeScript in tests: registers tsx, then imports the entry
// named in argv[2] (relative to this folder). The mesh must not depend on the engine's loader, so this is
// the mesh's own two-line version of it.
import { register } from "tsx/esm/api";

register();
await import(new URL(process.argv[2] ?? "", import.meta.url).href);
