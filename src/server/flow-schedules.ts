import { parse } from "yaml";
import { shorthandFields, type ScheduleShorthandInput } from "../config/schedule-schema.ts";
import { KilnError } from "../errors.ts";
import { resolveSchedule, type ScheduleDeclaration } from "../engine/schedule-declaration.ts";
import type { Store } from "../store/store.ts";

interface FlowHeaderLike {
  readonly trigger?: { readonly schedule?: ScheduleShorthandInput; readonly cron?: ScheduleShorthandInput };
  readonly metadata?: { readonly schedule?: ScheduleShorthandInput };
}

/**
 * The schedule a flow declares: `trigger.schedule`, `trigger.cron` (FlowRunner's name) or
 * `metadata.schedule`, at most one of them. Its id is the workflow's name.
 */
export function flowSchedule(source: string, workflow: string): ScheduleDeclaration | undefined {
  const data = (parse(source) ?? {}) as FlowHeaderLike;
  const declared = [
    ["trigger.schedule", data.trigger?.schedule],
    ["trigger.cron", data.trigger?.cron],
    ["metadata.schedule", data.metadata?.schedule],
  ].filter(([, v]) => v !== undefined) as [string, ScheduleShorthandInput][];
  if (declared.length === 0) return undefined;
  if (declared.length > 1) {
    throw new KilnError(
      "INVALID_INPUT",
      `Flow ${workflow} declares its schedule ${declared.length} times (${declared.map(([k]) => k).join(", ")}); keep one`,
    );
  }
  const [where, shorthand] = declared[0] as [string, ScheduleShorthandInput];
  return resolveSchedule(shorthandFields(shorthand, { type: "workflow", name: workflow }), `flow ${workflow} ${where}`);
}

/**
 * Makes a deployed flow's schedule match its source: created or replaced (source `flow`, id the
 * workflow's name), or deleted when the new version declares none.
 */
export async function syncFlowSchedule(
  store: Pick<Store, "putSchedule" | "getSchedule" | "deleteSchedule">,
  namespace: string,
  workflow: string,
  declaration: ScheduleDeclaration | undefined,
): Promise<void> {
  if (declaration !== undefined) {
    await store.putSchedule({ ...declaration, namespace, source: "flow" });
    return;
  }
  const existing = await store.getSchedule({ namespace, id: workflow });
  if (existing?.source === "flow") await store.deleteSchedule({ namespace, id: workflow });
}
