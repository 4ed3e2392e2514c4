/** Kiln's public API: embed the engine, define workflows and tasks, open stores. */
export { ERROR_CODES, type ErrorCode, KilnError, type SerializedError } from "./errors.ts";
export type { RetryPolicy, RetryPolicyInput } from "./engine/retry-policy.ts";
export type { Progress, Run, RunType } from "./engine/run.ts";
export { isTerminal, RUN_STATUSES, type RunStatus, STEP_STATUSES, type StepStatus } from "./engine/status.ts";
export type { Step, StepType } from "./engine/step.ts";
export type { StartOptions } from "./engine/start-options.ts";
export { Kiln, type KilnOptions } from "./kiln.ts";
export { openStore } from "./store/open-store.ts";
export type { Store } from "./store/store.ts";
export { RunParked, type TaskContext, type TaskHandler } from "./worker/task-context.ts";
export { Worker, type WorkerOptions } from "./worker/worker.ts";
export type { WorkflowContext, WorkflowFunction } from "./worker/workflow-context.ts";
export { type DefineWorkflowOptions, defineWorkflow, type WorkflowDefinition } from "./runtimes/define-workflow.ts";
export { createTestEnv, TestEnv, type TestEnvOptions, type TestStartOptions } from "./testing/test-env.ts";
export { createFlowDeps } from "./flow/run/flow-deps.ts";
export { createFlowWorkflow } from "./flow/run/flow-interpreter.ts";
export { compileFlowSource, validateFlowFile } from "./flow/run/flow-runtime.ts";
export { loadFlow } from "./flow/definition/flow-load.ts";
