/**
 * Entry of a Node workflow host process (spawned by the worker with `--import tsx`): registers
 * the module hooks that load deployed code by hash, then speaks the protocol on stdio.
 */
import { rmSync } from "node:fs";
import { register } from "node:module";
import { defineWorkflow } from "../../workflow/define-workflow.ts";
import { NodeWorkflowHost, runHostOnStdio } from "./workflow-host.ts";

// The same file kind as this module: .ts sources in a clone, compiled .js in an installed package.
const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
register(new URL("./loader-hooks.mjs", import.meta.url), {
  data: {
    entries: {
      kiln: new URL(`../../index${ext}`, import.meta.url).href,
      "kiln/workflow": new URL(`../../workflow${ext}`, import.meta.url).href,
      "kiln-engine": new URL(`../../index${ext}`, import.meta.url).href,
      "kiln-engine/workflow": new URL(`../../workflow${ext}`, import.meta.url).href,
    },
  },
});
// Bare scripts may call defineWorkflow(…) without importing it.
(globalThis as { defineWorkflow?: unknown }).defineWorkflow = defineWorkflow;
// The worker made this cache and removes it when we exit; we remove it too, for when the worker
// itself was killed (we exit when our stdin closes).
const cacheDir = process.env.KILN_HOST_CACHE_DIR || undefined;
if (cacheDir) process.once("exit", () => rmSync(cacheDir, { recursive: true, force: true }));
runHostOnStdio((send, flush) => {
  const host = new NodeWorkflowHost(send, cacheDir, flush);
  host.captureConsole();
  return host;
});
