// The model the browser tests run: the embedded default pair under public/models (default.json), or, while
// that is not trained yet, the training pipeline's smoke output served from a temporary public root with
// its own default.json. Also the directories the CLI reference run reads. Test-only.

import {
  existsSync,
  mkdtempSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../../../../", import.meta.url));

export interface TestModel {
  /** A directory holding models/ (served at /models/). */
  publicRoot: string;
  name: string;
  targetDir: string;
  draftDir: string;
  /** Removes temporary files. Idempotent. */
  cleanup(): void;
}

interface DefaultJson {
  name: string;
  target: string;
  draft: string;
}

function readDefault(file: string): DefaultJson {
  const o = JSON.parse(readFileSync(file, "utf8")) as Partial<DefaultJson>;
  if (typeof o.name !== "string" || typeof o.target !== "string" || typeof o.draft !== "string")
    throw new Error(`${file}: expected {"name","target","draft"}`);
  return { name: o.name, target: o.target, draft: o.draft };
}

export function testModel(): TestModel {
  const publicDefault = join(REPO, "public/models/default.json");
  if (existsSync(publicDefault)) {
    const d = readDefault(publicDefault);
    return {
      publicRoot: join(REPO, "public"),
      name: d.name,
      targetDir: join(REPO, "public/models", d.target),
      draftDir: join(REPO, "public/models", d.draft),
      cleanup: () => {},
    };
  }
  const smoke = join(REPO, "tools/train-default-model/work/smoke/out");
  if (!existsSync(join(smoke, "target/config.json"))) {
    throw new Error(
      "no model for the browser tests: public/models/default.json is missing (and no smoke model " +
        "under tools/train-default-model/work/smoke/out)",
    );
  }
  const root = mkdtempSync(join(tmpdir(), "pipemesh-e2e-public-"));
  mkdirSync(join(root, "models"));
  symlinkSync(smoke, join(root, "models/pipemesh-tiny"), "dir");
  writeFileSync(
    join(root, "models/default.json"),
    JSON.stringify({
      name: "pipemesh-tiny",
      target: "pipemesh-tiny/target",
      draft: "pipemesh-tiny/draft",
      draftWeak: "pipemesh-tiny/draft-weak",
    }),
  );
  let cleaned = false;
  return {
    publicRoot: root,
    name: "pipemesh-tiny",
    targetDir: join(smoke, "target"),
    draftDir: join(smoke, "draft"),
    cleanup: () => {
      if (cleaned) return;
      cleaned = true;
      rmSync(root, { recursive: true, force: true });
    },
  };
}
