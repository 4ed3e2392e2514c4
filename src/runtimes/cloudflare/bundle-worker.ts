import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";
import { KilnError } from "../../errors.ts";

/** The Cloudflare compatibility date the bundles are written for. */
export const COMPATIBILITY_DATE = "2024-09-23";

// Sources in a clone, compiled files in an installed package: the same kind as this module.
const EXT = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
const HANDLER = fileURLToPath(new URL(`./worker-handler${EXT}`, import.meta.url));
const DEFINE_WORKFLOW = fileURLToPath(new URL(`../../workflow/define-workflow${EXT}`, import.meta.url));

/**
 * Node-only imports of the module prelude that prepareWorkflowSource adds (`require`,
 * `__filename`): on a Worker they resolve to stand-ins, and `require` says why it cannot work.
 */
const SHIMS: Readonly<Record<string, string>> = {
  "node:module":
    'export function createRequire() { return (id) => { throw new Error("require(" + JSON.stringify(id) + ") is not available on Cloudflare Workers: import the module instead"); }; }',
  "node:url": 'export function fileURLToPath(u) { return String(u).replace(/^file:\\/\\//, ""); }',
};

/**
 * Bundles one prepared workflow module (see prepareWorkflowSource) with Kiln's replay handler
 * into a single ES module a Cloudflare Worker runs: `kiln` imports resolve to defineWorkflow,
 * bare scripts may call defineWorkflow without importing it, and everything is inlined (a
 * Worker has no node_modules). Imports that cannot be bundled fail with WORKFLOW_LOAD_FAILED.
 */
export async function bundleWorkflowWorker(p: Readonly<{ code: string; filename: string }>): Promise<string> {
  const plugin: Plugin = {
    name: "kiln-worker",
    setup(b) {
      b.onResolve({ filter: /^kiln:workflow$/ }, () => ({ path: "workflow", namespace: "kiln-workflow" }));
      b.onLoad({ filter: /.*/, namespace: "kiln-workflow" }, () => ({ contents: p.code, loader: "js" }));
      b.onResolve({ filter: /^node:(module|url)$/ }, (args) => ({ path: args.path, namespace: "kiln-shim" }));
      b.onLoad({ filter: /.*/, namespace: "kiln-shim" }, (args) => ({
        contents: SHIMS[args.path] ?? "",
        loader: "js",
      }));
      b.onResolve({ filter: /^kiln(-engine)?(\/workflow)?$/ }, () => ({ path: DEFINE_WORKFLOW }));
    },
  };
  const entry = [
    `import { defineWorkflow } from ${JSON.stringify(DEFINE_WORKFLOW)};`,
    "globalThis.defineWorkflow = defineWorkflow;",
    // Workers have no setImmediate without compatibility flags; activations schedule with it.
    "globalThis.setImmediate ??= (fn, ...args) => setTimeout(fn, 0, ...args);",
  ].join("\n");
  try {
    const result = await build({
      stdin: {
        contents: `import ${JSON.stringify("kiln:worker-globals")};\nimport * as workflow from "kiln:workflow";\nimport { createWorkerHandler } from ${JSON.stringify(HANDLER)};\nexport default createWorkerHandler(workflow);\n`,
        resolveDir: fileURLToPath(new URL(".", import.meta.url)),
        sourcefile: "worker-entry.js",
        loader: "js",
      },
      plugins: [
        {
          name: "kiln-worker-globals",
          setup(b) {
            b.onResolve({ filter: /^kiln:worker-globals$/ }, () => ({ path: "globals", namespace: "kiln-globals" }));
            b.onLoad({ filter: /.*/, namespace: "kiln-globals" }, () => ({
              contents: entry,
              loader: "js",
              resolveDir: fileURLToPath(new URL(".", import.meta.url)),
            }));
          },
        },
        plugin,
      ],
      bundle: true,
      write: false,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      define: { "import.meta.url": JSON.stringify(`file:///worker/${p.filename}`) },
      logLevel: "silent",
    });
    const file = result.outputFiles[0];
    if (!file) throw new Error("esbuild produced no output");
    return file.text;
  } catch (error) {
    const first = (error as { errors?: { text: string }[] }).errors?.[0];
    throw new KilnError(
      "WORKFLOW_LOAD_FAILED",
      `${p.filename} cannot be bundled for Cloudflare Workers: ${first?.text ?? (error as Error).message} (a Worker runs one self-contained module: import only what can be bundled)`,
      { cause: error, retryable: false },
    );
  }
}
