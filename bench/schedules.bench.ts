/**
 * Schedule lag (issue 12): 1,000 schedules firing every minute, on SQLite and PostgreSQL. The
 * clock is real time with the idle part of each minute skipped: just before each minute
 * boundary the clock jumps to 20 ms before it, the real Scheduler (its timer and store ticks)
 * fires the 1,000 due schedules, and each fire's lag is the real time from its due time to the
 * transaction that started its run. Usage:
 * `node --import tsx bench/schedules.bench.ts [--minutes N] [--dialect sqlite|postgres]`.
 * Prints a JSON line per dialect and a markdown table at the end.
 */
import { cpus, loadavg } from "node:os";
import { Scheduler } from "../src/server/scheduler.ts";
import { openStore } from "../src/store/open-store.ts";
import { type Dialect, freshStore, percentile, round, stopPostgres, until } from "./support.ts";

const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const MINUTES = Number(arg("--minutes") ?? 3);
const SCHEDULES = 1000;
const dialects: Dialect[] = arg("--dialect") ? [arg("--dialect") as Dialect] : ["sqlite", "postgres"];

async function lagFor(dialect: Dialect): Promise<{ p50: number; p99: number; max: number; fires: number }> {
  const fresh = await freshStore(dialect);
  const start = Date.parse("2026-01-05T00:00:00Z");
  const realStart = Date.now();
  let offset = start - realStart;
  const clock = () => Date.now() + offset;
  const store = await openStore(fresh.url, { clock, ...(fresh.schema === undefined ? {} : { schema: fresh.schema }) });
  try {
    for (let i = 0; i < SCHEDULES; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          store.putSchedule({
            namespace: "bench",
            id: `s${i + j}`,
            target: { type: "task", name: "noop" },
            cron: "* * * * *",
            timezone: "UTC",
            jitterMs: 0,
            startAt: null,
            endAt: null,
            overlap: "allow",
          }),
        ),
      );
    }
    const lags: number[] = [];
    let fired = 0;
    const scheduler = new Scheduler({
      store,
      clock,
      onFire: (f) => {
        if (f.outcome !== "started") return;
        lags.push(f.lagMs);
        fired++;
      },
    });
    for (let minute = 1; minute <= MINUTES; minute++) {
      // Skip the idle part of the minute: the clock jumps to 20 ms before the boundary.
      const boundary = start + minute * 60_000;
      offset = boundary - 20 - Date.now();
      scheduler.start();
      await until(async () => fired >= minute * SCHEDULES, 2, 120_000);
      await scheduler.stop();
    }
    return {
      p50: percentile(lags, 50),
      p99: percentile(lags, 99),
      max: Math.max(...lags),
      fires: lags.length,
    };
  } finally {
    await store.close();
    await fresh.dispose();
  }
}

const rows: string[] = [];
for (const dialect of dialects) {
  const r = await lagFor(dialect);
  console.log(JSON.stringify({ name: "schedule-lag", dialect, schedules: SCHEDULES, minutes: MINUTES, ...r }));
  rows.push(
    `| ${dialect} | ${SCHEDULES} every minute × ${MINUTES} min | ${r.fires} | ${round(r.p50)} ms | ${round(r.p99)} ms | ${round(r.max)} ms |`,
  );
}
await stopPostgres();
const cpu = cpus()[0]?.model ?? "unknown CPU";
console.log(
  `\n${new Date().toISOString()} · ${cpus().length} × ${cpu} · load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}\n`,
);
console.log("| store | schedules | fires | lag p50 | lag p99 | lag max |\n|---|---|---|---|---|---|");
for (const row of rows) console.log(row);
