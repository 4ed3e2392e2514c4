/** `kiln-engine/flow`: run and validate YAML flows when embedding Kiln. */
export { createFlowDeps } from "./flow/run/flow-deps.ts";
export { createFlowWorkflow } from "./flow/run/flow-interpreter.ts";
export {
  compileFlowSource,
  type FlowRuntime,
  flowRuntime,
  type ValidateFlowFileOptions,
  validateFlowFile,
} from "./flow/run/flow-runtime.ts";
export { loadFlow } from "./flow/definition/flow-load.ts";
