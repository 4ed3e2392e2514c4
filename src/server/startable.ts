import { KilnError } from "../errors.ts";
import { didYouMean } from "../flow/did-you-mean.ts";
import { assertInputMatches } from "../config/input-schema.ts";
import type { WorkerKind } from "../store/control-store.ts";
import type { Store } from "../store/store.ts";

/**
 * Checks a task run's input against the kind's `input_schema`, as registered by the worker seen
 * most recently (workers of one deployment share a config): 400 INVALID_INPUT naming the fields.
 */
function assertTaskInput(
  workers: readonly { readonly lastHeartbeatAt: number; readonly kinds: readonly WorkerKind[] }[],
  kind: string,
  input: unknown,
): void {
  let latest: { at: number; schema: unknown } | null = null;
  for (const w of workers) {
    const found = w.kinds.find((k) => k.kind === kind);
    if (found && (latest === null || w.lastHeartbeatAt > latest.at))
      latest = { at: w.lastHeartbeatAt, schema: found.settings.inputSchema };
  }
  const schema = latest?.schema;
  if (schema !== null && typeof schema === "object") assertInputMatches(kind, schema as Record<string, unknown>, input);
}

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
): Promise<void> {
  if (p.type === "workflow" && p.deployed) return;
  const workers = await store.listWorkers({ namespace: p.namespace });
  const known = new Set<string>();
  if (p.type === "task") {
    for (const w of workers) for (const k of w.kinds) known.add(k.kind);
  } else {
    for (const w of workers) for (const name of w.workflows) known.add(name);
    for (const wf of (await store.listWorkflows({ namespace: p.namespace, limit: 1000 })).workflows) known.add(wf.name);
  }
  if (known.has(p.name)) {
    if (p.type === "task") assertTaskInput(workers, p.name, p.input);
    return;
  }
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
