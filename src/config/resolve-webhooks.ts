import type { ConfigInput } from "./schema.ts";

/** An incoming webhook declared in the config file. */
export interface ResolvedIncomingWebhook {
  readonly name: string;
  readonly workflow: string;
  readonly runType: "workflow" | "task";
  readonly secretName: string;
  readonly scheme: "standard" | "github";
  readonly inputMap: Readonly<Record<string, unknown>> | null;
}

/** `webhook_delivery`, in ms; only the keys that were set (the server has the defaults). */
export interface ResolvedWebhookDelivery {
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly giveUpAfterMs?: number;
  readonly timeoutMs?: number;
  readonly pollMs?: number;
}

/** The incoming webhooks of a config file. */
export function resolveIncomingWebhooks(input: ConfigInput): ResolvedIncomingWebhook[] {
  return (input.webhooks ?? []).map((w) => ({
    name: w.name,
    workflow: (w.workflow ?? w.task) as string,
    runType: w.workflow === undefined ? "task" : "workflow",
    secretName: w.secret_from,
    scheme: w.scheme ?? "standard",
    inputMap: w.input ?? null,
  }));
}

/** The delivery settings of a config file. */
export function resolveWebhookDelivery(input: ConfigInput): ResolvedWebhookDelivery {
  const d = input.webhook_delivery ?? {};
  const ms = (s: number | undefined) => (s === undefined ? undefined : Math.round(s * 1000));
  const out: Record<string, number> = {};
  const set = (key: keyof ResolvedWebhookDelivery, value: number | undefined) => {
    if (value !== undefined) out[key] = value;
  };
  set("initialBackoffMs", ms(d.initial_backoff_seconds));
  set("maxBackoffMs", ms(d.max_backoff_seconds));
  set("giveUpAfterMs", ms(d.give_up_after_seconds));
  set("timeoutMs", ms(d.timeout_seconds));
  set("pollMs", ms(d.poll_interval_seconds));
  return out;
}
