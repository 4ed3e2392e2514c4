import type { ActivationOutcome } from "../workflow/workflow-activation.ts";

/**
 * Outcomes cross a JSON channel (a host's stdio, a Worker's HTTP answer): a non-serializable
 * output fails the run instead of the channel.
 */
export function jsonSafe(outcome: ActivationOutcome): ActivationOutcome {
  if (outcome.outcome !== "complete") return outcome;
  try {
    JSON.stringify(outcome.output);
    return outcome;
  } catch (error) {
    const message = `The workflow output is not serializable as JSON: ${(error as Error).message}`;
    return { outcome: "fail", error: { code: "INVALID_INPUT", message, retryable: false }, compensable: false };
  }
}
