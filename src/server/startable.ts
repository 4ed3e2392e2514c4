import { didYouMean } from "../config/config-problems.ts";
import { KilnError } from "../errors.ts";
import { assertInputMatches } from "../config/input-schema.ts";
import type { WorkerKind } from "../store/control-store.ts";
import type { Store } from "../store/store.ts";

/** What a run start must know about its target: the input fields to seal (task kinds). */
export interface Startable {
  readonly secretFields: readonly string[];
}

/**
 * Checks a task run's input against the kind's `input_schema`, as registered by the worker seen
 * most recently (workers of one deployment share a config): 400 INVALID_INPUT naming the fields.
 * Returns the kind's secret fields from the same registration.
 */
function assertTaskInput(
  workers: readonly { readonly lastHeartbeatAt: number; readonly kinds: readonly WorkerKind[] }[],
  kind: string,
  input: unknown,
): Startable {
  let latest: { at: number; settings: Readonly<Record<string, unknown>> } | null = null;
  for (const w of workers) {
    const found = w.kinds.find((k) => k.kind === kind);
    if (found && (latest === null || w.lastHeartbeatAt > latest.at))
      latest = { at: w.lastHeartbeatAt, settings: found.settings };
  }
  const schema = latest?.settings.inputSchema;
  if (schema !== null && typeof schema === "object") assertInputMatches(kind, schema as Record<string, unknown>, input);
  const fields = latest?.settings.secretFields;
  return {
    secretFields: Array.isArray(fields) ? fields.filter((f): f is string => typeof f === "string") : [],
  };
}

const NOTHING: Startable = { secretFields: [] };

/** How many names a "not found" error lists, at most. */
const LISTED = 10;

/**
 * Refuses to start a run that nothing can execute: a workflow that is neither deployed nor
 * registered by a worker of the namespace, or a task kind no registered worker declares. Without
 * this, such a run would stay `queued` forever with no word. Callers whose worker registers later
 * opt out with `allowUnknown`.
 */
export async function assertStartable(
  store: Store,
  p: Readonly<{ namespace: string; type: "workflow" | "task"; name: string; deployed: boolean; input?: unknown }>,
): Promise<Startable> {
  if (p.type === "workflow" && p.deployed) return NOTHING;
  const workers = await store.listWorkers({ namespace: p.namespace });
  const known = new Set<string>();
  if (p.type === "task") {
    for (const w of workers) for (const k of w.kinds) known.add(k.kind);
  } else {
    for (const w of workers) for (const name of w.workflows) known.add(name);
    for (const wf of (await store.listWorkflows({ namespace: p.namespace, limit: 1000 })).workflows) known.add(wf.name);
  }
  if (known.has(p.name)) return p.type === "task" ? assertTaskInput(workers, p.name, p.input) : NOTHING;
  const what = p.type === "task" ? "task kind" : "workflow";
  const names = [...known].sort();
  const listed =
    names.length === 0
      ? ` No ${what} is ${p.type === "task" ? "declared by a running worker" : "deployed or registered"} in namespace "${p.namespace}".`
      : ` Known: ${names.slice(0, LISTED).join(", ")}${names.length > LISTED ? `, … (${names.length} in all)` : ""}.`;
  throw new KilnError(
    p.type === "task" ? "TASK_KIND_NOT_FOUND" : "WORKFLOW_NOT_FOUND",
    `No ${what} "${p.name}" in namespace "${p.namespace}"${didYouMean(p.name, names)}.${listed} Pass allowUnknown (CLI: --allow-unknown) to queue it for a worker that registers later.`,
    { data: { name: p.name, known: names.slice(0, LISTED) } },
  );
}
