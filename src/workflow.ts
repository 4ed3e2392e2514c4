/** `kiln/workflow`: what workflow code imports — `defineWorkflow` and the context types. */
export { type DefineWorkflowOptions, defineWorkflow, type WorkflowDefinition } from "./runtimes/define-workflow.ts";
export type {
  ChildOptions,
  StepOptions,
  WaitForEventOptions,
  WorkflowContext,
  WorkflowFunction,
} from "./worker/workflow-context.ts";
