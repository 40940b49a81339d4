// Module customization hook: `import text from './file.ext?raw'` yields the file's text as the default
// export, mirroring Vite's `?raw` suffix. Only `?raw` specifiers are touched; everything else passes through.
import { readFile } from "node:fs/promises";

export async function resolve(specifier, context, nextResolve) {
  if (specifier.endsWith("?raw") && context.parentURL) {
    const url = new URL(specifier, context.parentURL);
    return { url: url.href, shortCircuit: true, format: "raw-text" };
  }
  // The workspaces' package.json exports point at built JavaScript by default and at the .ts sources under
  // the "source" condition: under this loader (a clone) every import of @pipemesh/* gets the sources.
  const conditions = context.conditions ?? [];
  if (conditions.includes("source")) return nextResolve(specifier, context);
  return nextResolve(specifier, { ...context, conditions: ["source", ...conditions] });
}

export async function load(url, context, nextLoad) {
  if (url.endsWith("?raw")) {
    const text = await readFile(new URL(url.slice(0, -4)), "utf8");
    return {
      format: "module",
      source: `export default ${JSON.stringify(text)};`,
      shortCircuit: true,
    };
  }
  return nextLoad(url, context);
}
