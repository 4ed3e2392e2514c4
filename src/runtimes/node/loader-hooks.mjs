// Module hooks of the Node workflow host (registered with module.register, run off-thread).
// Deployed code is imported as `file://<workflow dir>/<name>.mjs?kiln-code=<cache file>`: the URL
// sits in the workflow's directory, so its relative imports and packages resolve from there, while
// the text comes from the host's cache file. `kiln` and `kiln/workflow` resolve to this Kiln.
import { readFile } from "node:fs/promises";

let entries = {};

/** Receives the URLs of the `kiln` entry points from the host. */
export function initialize(data) {
  entries = data?.entries ?? {};
}

export async function resolve(specifier, context, nextResolve) {
  if (specifier.includes("kiln-code=")) return { url: specifier, format: "module", shortCircuit: true };
  const entry = entries[specifier];
  // Through the next hooks (tsx), which load Kiln's TypeScript sources.
  if (entry) return nextResolve(entry, context);
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  const marker = url.indexOf("?kiln-code=");
  if (marker !== -1) {
    const path = decodeURIComponent(url.slice(marker + "?kiln-code=".length));
    return { format: "module", source: await readFile(path, "utf8"), shortCircuit: true };
  }
  return nextLoad(url, context);
}
