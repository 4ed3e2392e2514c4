/**
 * Entry of a Node workflow host process (spawned by the worker with `--import tsx`): registers
 * the module hooks that load deployed code by hash, then speaks the protocol on stdio.
 */
import { register } from "node:module";
import { defineWorkflow } from "../define-workflow.ts";
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
runHostOnStdio((send, flush) => {
  const host = new NodeWorkflowHost(send, undefined, flush);
  host.captureConsole();
  return host;
});
