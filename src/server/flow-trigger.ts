import { parse } from "yaml";
import { flowWebhookTriggerSchema } from "../flow/definition/flow-schema.ts";
import type { Store } from "../store/store.ts";

/**
 * Applies a deployed flow's `trigger.webhook`: creates or replaces the incoming webhook that starts
 * it (source `flow`). A flow deployed without one drops the webhook an earlier version made. The
 * flow was validated before (deploy-validation.ts), so the section is well formed.
 */
export async function applyFlowTrigger(
  store: Pick<Store, "webhooks">,
  p: Readonly<{ namespace: string; name: string; source: string }>,
): Promise<void> {
  const doc = parse(p.source) as { trigger?: { webhook?: unknown } } | null;
  const parsed = flowWebhookTriggerSchema.safeParse(doc?.trigger?.webhook);
  const existing = (await store.webhooks.listWebhookEndpoints({ namespace: p.namespace })).filter(
    (e) => e.source === "flow" && e.workflow === p.name,
  );
  const name = parsed.success ? (parsed.data.name ?? p.name) : undefined;
  for (const e of existing) {
    if (e.name !== name) await store.webhooks.deleteWebhookEndpoint({ namespace: p.namespace, name: e.name });
  }
  if (!parsed.success || name === undefined) return;
  await store.webhooks.putWebhookEndpoint({
    namespace: p.namespace,
    name,
    workflow: p.name,
    runType: "workflow",
    secretName: parsed.data.secret_from,
    scheme: parsed.data.scheme ?? "standard",
    inputMap: parsed.data.input ?? null,
    source: "flow",
  });
}
