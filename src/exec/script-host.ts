import type { Progress } from "../engine/run.ts";
import type { Step } from "../engine/step.ts";
import type { LogLevel } from "../engine/log-level.ts";

/**
 * What the script executor needs from the worker for one attempt: the parts of the worker's
 * TaskContext (src/workflow/task-context.ts) that a script can reach. A TaskContext is a ScriptHost.
 */
export interface ScriptHost {
  log(level: LogLevel, message: string): void;
  progress(progress: Progress): void;
  setState(key: string, value: string | null): Promise<void>;
  heartbeat(): void;
  readonly steps: ScriptSteps;
}

/** Durable steps as scripts use them (`kiln step`, `kiln sleep`, `kiln wait-event`). */
export interface ScriptSteps {
  get(name: string): Pick<Step, "status" | "output"> | undefined;
  complete(name: string, output: unknown): Promise<void>;
  sleep(name: string, durationMs: number): Promise<"done" | "parked">;
  waitForEvent(
    name: string,
    options: Readonly<{ event: string; key?: string | null; timeoutMs?: number | null }>,
  ): Promise<{ readonly status: "received"; readonly payload: unknown } | { readonly status: "timeout" | "parked" }>;
}
