// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import type { Command } from "commander";
import { KilnError } from "../../errors.ts";
import { parseJsonInput } from "../../engine/payload.ts";
import type { Runner } from "../command-registry.ts";
import type { CliContext } from "../context.ts";
import { printJson, table } from "../output.ts";

type Row = Record<string, unknown>;
type Page = { items: Row[] };

const text = (v: unknown) =>
  v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
const when = (v: unknown) =>
  typeof v === "number" ? new Date(v).toISOString().replace("T", " ").slice(0, 19) : text(v);
const path = (...parts: string[]) => parts.map(encodeURIComponent).join("/");

interface CreateOptions {
  readonly workflow: string;
  readonly task?: boolean;
  readonly secretFrom?: string;
  readonly github?: boolean;
  readonly input?: string;
}

/** `kiln webhooks create NAME --workflow W --secret-from SECRET [--github] [--input JSON]`. */
async function createCommand(ctx: CliContext, name: string, o: CreateOptions): Promise<number> {
  if (o.secretFrom === undefined) {
    throw new KilnError(
      "INVALID_INPUT",
      `kiln webhooks create ${name} needs --secret-from SECRET: the Kiln secret holding the signing key (set it with \`kiln secrets set SECRET\`)`,
    );
  }
  const input = o.input === undefined ? undefined : parseJsonInput(o.input, "--input");
  if (input !== undefined && (input === null || typeof input !== "object" || Array.isArray(input))) {
    throw new KilnError("INVALID_INPUT", `Expected --input to be a JSON object of \${…} expressions, got ${o.input}`);
  }
  const endpoint = await ctx.api().put<Row>(`/v1/webhooks/endpoints/${path(name)}`, {
    workflow: o.workflow,
    ...(o.task ? { type: "task" } : {}),
    secretFrom: o.secretFrom,
    scheme: o.github ? "github" : "standard",
    ...(input === undefined ? {} : { input }),
  });
  const url = `${ctx.api().target.server.replace(/\/$/, "")}/hooks/${path(text(endpoint.namespace), name)}`;
  if (ctx.options.json) printJson(ctx.output, { ...endpoint, url });
  else ctx.output.out(`webhook ${name} → ${o.workflow}: POST ${url} (${text(endpoint.scheme)} signature)`);
  return 0;
}

/** `kiln webhooks list`: incoming endpoints and outgoing subscriptions. */
async function listCommand(ctx: CliContext): Promise<number> {
  const [endpoints, subscriptions] = await Promise.all([
    ctx.api().get<Page>("/v1/webhooks/endpoints"),
    ctx.api().get<Page>("/v1/webhooks/subscriptions"),
  ]);
  if (ctx.options.json) {
    printJson(ctx.output, { endpoints: endpoints.items, subscriptions: subscriptions.items });
    return 0;
  }
  ctx.output.out(
    table(
      endpoints.items.map((e) => [text(e.name), text(e.workflow), text(e.scheme), text(e.secretName), text(e.source)]),
      ["INCOMING", "WORKFLOW", "SCHEME", "SECRET", "SOURCE"],
    ),
  );
  ctx.output.out(
    table(
      subscriptions.items.map((s) => [
        text(s.id),
        text(s.url),
        (s.events as string[]).join(","),
        text(s.workflow ?? s.runId ?? "*"),
      ]),
      ["SUBSCRIPTION", "URL", "EVENTS", "RUNS"],
    ),
  );
  return 0;
}

/** `kiln webhooks show NAME`. */
async function showCommand(ctx: CliContext, name: string): Promise<number> {
  const endpoint = await ctx.api().get<Row>(`/v1/webhooks/endpoints/${path(name)}`);
  if (ctx.options.json) printJson(ctx.output, endpoint);
  else {
    for (const key of ["name", "workflow", "runType", "scheme", "secretName", "inputMap", "source", "updatedAt"]) {
      ctx.output.out(`${key.padEnd(10)} ${key === "updatedAt" ? when(endpoint[key]) : text(endpoint[key])}`);
    }
  }
  return 0;
}

/** `kiln webhooks delete NAME`. */
async function deleteCommand(ctx: CliContext, name: string): Promise<number> {
  await ctx.api().delete(`/v1/webhooks/endpoints/${path(name)}`);
  if (ctx.options.json) printJson(ctx.output, { name, deleted: true });
  else ctx.output.out(`webhook ${name} deleted`);
  return 0;
}

interface SubscribeOptions {
  readonly events: string;
  readonly workflow?: string;
  readonly secretFrom?: string;
}

/** `kiln webhooks subscribe URL --events run.completed,run.failed [--workflow W] [--secret-from S]`. */
async function subscribeCommand(ctx: CliContext, url: string, o: SubscribeOptions): Promise<number> {
  const events = o.events
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "");
  const result = await ctx.api().post<{ subscription: Row; secret?: string }>("/v1/webhooks/subscriptions", {
    url,
    events,
    ...(o.workflow === undefined ? {} : { workflow: o.workflow }),
    ...(o.secretFrom === undefined ? {} : { secretFrom: o.secretFrom }),
  });
  if (ctx.options.json) printJson(ctx.output, result);
  else {
    ctx.output.out(text(result.subscription.id));
    if (result.secret !== undefined) {
      ctx.output.err(
        `signing secret (shown once; also stored as secret ${text(result.subscription.secretName)}): ${result.secret}`,
      );
    }
  }
  return 0;
}

/** `kiln webhooks unsubscribe ID`. */
async function unsubscribeCommand(ctx: CliContext, id: string): Promise<number> {
  await ctx.api().delete(`/v1/webhooks/subscriptions/${path(id)}`);
  if (ctx.options.json) printJson(ctx.output, { id, deleted: true });
  else ctx.output.out(`subscription ${id} deleted`);
  return 0;
}

/** `kiln webhooks deliveries [--subscription ID] [--run ID]`, or one delivery with its attempts. */
async function deliveriesCommand(
  ctx: CliContext,
  id: string | undefined,
  o: { subscription?: string; run?: string },
): Promise<number> {
  if (id !== undefined) {
    const d = await ctx.api().get<Row & { attemptLog: Row[] }>(`/v1/webhooks/deliveries/${path(id)}`);
    if (ctx.options.json) printJson(ctx.output, d);
    else {
      ctx.output.out(`${text(d.id)} ${text(d.event)} run ${text(d.runId)}: ${text(d.status)}`);
      ctx.output.out(
        table(
          d.attemptLog.map((a) => [
            text(a.attempt),
            a.ok ? "ok" : "failed",
            text(a.responseCode),
            `${text(a.latencyMs)}ms`,
            when(a.at),
            text(a.error),
          ]),
          ["ATTEMPT", "RESULT", "CODE", "LATENCY", "AT", "ERROR"],
        ),
      );
    }
    return 0;
  }
  const page = await ctx.api().get<Page>("/v1/webhooks/deliveries", {
    subscription: o.subscription,
    run: o.run,
  });
  if (ctx.options.json) printJson(ctx.output, page);
  else {
    ctx.output.out(
      table(
        page.items.map((d) => [
          text(d.id),
          text(d.event),
          text(d.status),
          text(d.attempts),
          text(d.lastResponseCode),
          when(d.nextAttemptAt),
          text(d.lastError),
        ]),
        ["DELIVERY", "EVENT", "STATUS", "ATTEMPTS", "CODE", "NEXT", "ERROR"],
      ),
    );
  }
  return 0;
}

/** `kiln webhooks redeliver DELIVERY_ID`. */
async function redeliverCommand(ctx: CliContext, id: string): Promise<number> {
  const d = await ctx.api().post<Row>(`/v1/webhooks/deliveries/${path(id)}/redeliver`, {});
  if (ctx.options.json) printJson(ctx.output, d);
  else ctx.output.out(`delivery ${id} queued again (attempt ${Number(d.attempts) + 1})`);
  return 0;
}

/** Installs `kiln webhooks …`. */
export function installWebhookCommands(program: Command, run: Runner): void {
  const hooks = program.command("webhooks").description("incoming webhooks that start runs; outgoing run events");
  hooks
    .command("create <name>")
    .description("create or replace an incoming webhook: POST /hooks/<namespace>/<name> starts a run")
    .requiredOption("--workflow <name>", "the workflow to start (or task kind, with --task)")
    .option("--task", "start a task kind rather than a workflow")
    .option("--secret-from <secret>", "the Kiln secret holding the signing key")
    .option("--github", "verify GitHub's X-Hub-Signature-256 instead of Standard Webhooks headers")
    .option("--input <json>", "a JSON object of ${…} expressions over input.body, input.headers, input.query")
    .action(run((ctx, name: string, opts) => createCommand(ctx, name, opts as CreateOptions)));
  hooks
    .command("list")
    .description("list incoming webhooks and outgoing subscriptions")
    .action(run((ctx) => listCommand(ctx)));
  hooks
    .command("show <name>")
    .description("show an incoming webhook")
    .action(run((ctx, name: string) => showCommand(ctx, name)));
  hooks
    .command("delete <name>")
    .description("delete an incoming webhook")
    .action(run((ctx, name: string) => deleteCommand(ctx, name)));
  hooks
    .command("subscribe <url>")
    .description("POST run events to URL, signed with Standard Webhooks, retried for up to 24 h")
    .requiredOption("--events <list>", "comma-separated: run.completed, run.failed, run.cancelled, run.timed_out, …")
    .option("--workflow <name>", "only runs of this workflow or task kind")
    .option("--secret-from <secret>", "sign with this Kiln secret (whsec_…); default: a new one, printed once")
    .action(run((ctx, url: string, opts) => subscribeCommand(ctx, url, opts as SubscribeOptions)));
  hooks
    .command("unsubscribe <id>")
    .description("delete an outgoing subscription")
    .action(run((ctx, id: string) => unsubscribeCommand(ctx, id)));
  hooks
    .command("deliveries [id]")
    .description("the delivery log (newest first), or one delivery's attempts")
    .option("--subscription <id>", "only this subscription's deliveries")
    .option("--run <id>", "only this run's deliveries")
    .action(run((ctx, id: string | undefined, opts) => deliveriesCommand(ctx, id, opts as { subscription?: string })));
  hooks
    .command("redeliver <delivery-id>")
    .description("send a delivery again now")
    .action(run((ctx, id: string) => redeliverCommand(ctx, id)));
}
