import type { Run } from "../engine/run.ts";
import type { ClaimedRun } from "../engine/claim.ts";
import type { ActivationDeps, ActivationOutcome } from "./workflow-activation.ts";

/** Runs one activation of a workflow run: in-process replay, or a host process for deployed code. */
export type ActivateWorkflow = (claimed: ClaimedRun, deps: ActivationDeps) => Promise<ActivationOutcome>;

/**
 * Workflows not registered in-process that a worker can still execute, such as deployed
 * JS/TS/Python code run in host processes (src/runtimes) or deployed flows (src/flow). Consulted
 * after the registrations. Declared here, below the worker loop, so the folders that supply
 * resolvers never import the loop: the loop imports them.
 */
export interface WorkflowResolver {
  /** Names of the workflows this resolver executes in a namespace (claims include them; cache it). */
  listNames(p: Readonly<{ namespace: string }>): Promise<readonly string[]>;
  /** How to execute this run, or undefined when the resolver has no code for it. */
  resolve(run: Run): Promise<ActivateWorkflow | undefined>;
}

/** Where resolvers are added: the worker's registry (`worker.registry`). */
export interface WorkflowResolvers {
  addResolver(resolver: WorkflowResolver): void;
}
