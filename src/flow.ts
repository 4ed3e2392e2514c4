/** `kiln-engine/flow`: run and validate YAML flows when embedding Kiln. */
export { createFlowDeps } from "./flow/flow-deps.ts";
export { createFlowWorkflow } from "./flow/flow-interpreter.ts";
export {
  compileFlowSource,
  type FlowRuntime,
  flowRuntime,
  type ValidateFlowFileOptions,
  validateFlowFile,
} from "./flow/flow-runtime.ts";
export { loadFlow } from "./flow/flow-load.ts";
