import { KilnError } from "../../errors.ts";

/** The error of a model endpoint that failed or answered something unusable. */
export function llmFailure(message: string, retryable: boolean, data: Record<string, unknown> = {}): KilnError {
  return new KilnError("LLM_REQUEST_FAILED", message, { retryable, data });
}

/** Whether an HTTP status of a model endpoint is worth another attempt. */
export const retryableStatus = (status: number): boolean => status === 408 || status === 429 || status >= 500;
