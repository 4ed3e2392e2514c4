import { KilnError } from "../errors.ts";
import { newRunId } from "../engine/ids.ts";
import type { StartRunParams, StartRunResult } from "../engine/start-run.ts";
import { WEBHOOK_EVENTS } from "../store/webhook-store.ts";
import { expectWebhookUrl } from "./routes/webhooks.ts";
import type { ServerDeps } from "./server-deps.ts";

/** The secret that signs per-run callbacks when the start names none. */
export const DEFAULT_CALLBACK_SECRET = "WEBHOOK_CALLBACK_SECRET";

/** A per-run callback: where to POST the run's outcome, signed with which Kiln secret. */
export interface RunCallback {
  readonly url: string;
  readonly secretFrom?: string;
}

/**
 * Starts a run whose outcome is POSTed to `callback.url` by the outgoing webhook machinery (a
 * subscription scoped to the run). The subscription is written before the run exists, under the
 * run's id chosen here, so even a run that ends at once is reported. A start that returns an
 * existing run (same idempotency key) keeps that run's callbacks and drops the new one.
 */
export async function startRunWithCallback(
  deps: ServerDeps,
  params: StartRunParams,
  callback: RunCallback,
): Promise<StartRunResult> {
  const url = expectWebhookUrl(callback.url);
  const secretName = callback.secretFrom ?? DEFAULT_CALLBACK_SECRET;
  const [secret] = await deps.store.getSecrets({ namespace: params.namespace, names: [secretName] });
  if (secret === undefined) {
    throw new KilnError(
      "INVALID_INPUT",
      `A callbackUrl is signed with the secret ${secretName}, which is not set in namespace "${params.namespace}"; set a Standard Webhooks key with \`kiln secrets set ${secretName} whsec_…\``,
    );
  }
  const id = params.id ?? newRunId();
  const subscription = await deps.store.webhooks.createWebhookSubscription({
    namespace: params.namespace,
    url,
    events: [...WEBHOOK_EVENTS],
    workflow: null,
    runId: id,
    secretName,
  });
  let result: StartRunResult | undefined;
  try {
    result = await deps.store.startRun({ ...params, id });
    return result;
  } finally {
    if (result === undefined || result.run.id !== id) {
      await deps.store.webhooks.deleteWebhookSubscription({ namespace: params.namespace, id: subscription.id });
    }
  }
}
