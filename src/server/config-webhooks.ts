import type { ResolvedIncomingWebhook } from "../config/resolve-webhooks.ts";
import type { Store } from "../store/store.ts";

/**
 * Makes the store's config-declared incoming webhooks of a namespace those of the config file:
 * each declared one is created or replaced (a same-named API one included: the file wins), and
 * config ones no longer declared are deleted. Webhooks made through the API are otherwise kept.
 */
export async function syncConfigWebhooks(
  store: Pick<Store, "webhooks">,
  p: Readonly<{ namespace: string; webhooks: readonly ResolvedIncomingWebhook[] }>,
): Promise<void> {
  const declared = new Set(p.webhooks.map((w) => w.name));
  for (const w of p.webhooks) {
    await store.webhooks.putWebhookEndpoint({ namespace: p.namespace, ...w, source: "config" });
  }
  for (const e of await store.webhooks.listWebhookEndpoints({ namespace: p.namespace })) {
    if (e.source === "config" && !declared.has(e.name)) {
      await store.webhooks.deleteWebhookEndpoint({ namespace: p.namespace, name: e.name });
    }
  }
}
