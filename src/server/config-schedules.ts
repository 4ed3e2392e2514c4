import type { ScheduleDeclaration } from "../engine/schedule-declaration.ts";
import type { Store } from "../store/store.ts";

/** What a config sync changed. */
export interface ScheduleSyncResult {
  readonly upserted: readonly string[];
  readonly deleted: readonly string[];
}

/**
 * Makes the config-declared schedules of a namespace match the config: each is created or
 * replaced (an unchanged timing keeps its next due time, so a reload neither repeats nor skips a
 * fire), and config schedules no longer declared are deleted. Schedules made through the API or
 * CLI are left alone unless the config declares the same id, which then takes it over.
 */
export async function syncConfigSchedules(
  store: Pick<Store, "putSchedule" | "listSchedules" | "deleteSchedule">,
  namespace: string,
  declarations: readonly ScheduleDeclaration[],
): Promise<ScheduleSyncResult> {
  const upserted: string[] = [];
  for (const d of declarations) {
    await store.putSchedule({ ...d, namespace, source: "config" });
    upserted.push(d.id);
  }
  const declared = new Set(declarations.map((d) => d.id));
  const deleted: string[] = [];
  for (const s of await store.listSchedules({ namespace, source: "config" })) {
    if (declared.has(s.id)) continue;
    await store.deleteSchedule({ namespace, id: s.id });
    deleted.push(s.id);
  }
  return { upserted, deleted };
}
