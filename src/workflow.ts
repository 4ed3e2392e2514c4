/** `kiln/workflow`: what workflow code imports — `defineWorkflow` and the context types. */
export { type DefineWorkflowOptions, defineWorkflow, type WorkflowDefinition } from "./workflow/define-workflow.ts";
export type {
  ChildOptions,
  StepOptions,
  WaitForEventOptions,
  WorkflowContext,
  WorkflowFunction,
} from "./workflow/workflow-context.ts";
