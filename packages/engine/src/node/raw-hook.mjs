// Module customization hook: `import text from './file.ext?raw'` yields the file's text as the default
// export, mirroring Vite's `?raw` suffix. Only `?raw` specifiers are touched; everything else passes through.
import { readFile } from "node:fs/promises";

export async function resolve(specifier, context, nextResolve) {
  if (specifier.endsWith("?raw") && context.parentURL) {
    const url = new URL(specifier, context.parentURL);
    return { url: url.href, shortCircuit: true, format: "raw-text" };
  }
  return nextResolve(specifier, context);
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
