import type { WorkflowContext } from "../src/workflow/workflow-context.ts";
/** Shared helpers of the benchmarks: stores, percentiles, medians, a throwaway PostgreSQL. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { openStore } from "../src/store/open-store.ts";
import type { Store } from "../src/store/store.ts";
import { startThrowawayPostgres } from "../tests/support/postgres-cluster.mjs";

export type Dialect = "sqlite" | "postgres";

let cluster: { url: string; stop(): Promise<void> } | undefined;

/**
 * The PostgreSQL URL to benchmark against: KILN_BENCH_DATABASE_URL, else a throwaway cluster with
 * PostgreSQL's default durability (fsync and synchronous_commit on), as users run it.
 * KILN_BENCH_FSYNC_OFF=1 turns fsync off (a figure to show beside the default one, labelled);
 * KILN_BENCH_PGSS=1 preloads pg_stat_statements for a profile.
 */
export async function postgresUrl(): Promise<string> {
  const url = process.env.KILN_BENCH_DATABASE_URL;
  if (url) return url;
  cluster ??= await startThrowawayPostgres({
    serverDefaults: process.env.KILN_BENCH_FSYNC_OFF !== "1",
    preload: process.env.KILN_BENCH_PGSS === "1" ? "pg_stat_statements" : "",
  });
  return (cluster as { url: string }).url;
}

/** Stops the throwaway cluster if one was started. */
export async function stopPostgres(): Promise<void> {
  await cluster?.stop();
  cluster = undefined;
}

/** A fresh store: a temp SQLite file, or a fresh PostgreSQL schema (`url`/`schema` open it again). */
export async function freshStore(
  dialect: Dialect,
): Promise<{ store: Store; url: string; schema?: string; dispose(): Promise<void> }> {
  if (dialect === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "kiln-bench-"));
    const store = await openStore(join(dir, "kiln.db"));
    return {
      store,
      url: join(dir, "kiln.db"),
      dispose: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const url = await postgresUrl();
  const schema = `bench_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const store = await openStore(url, { schema });
  return {
    store,
    url,
    schema,
    dispose: async () => {
      await store.close();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    },
  };
}

/** The p-th percentile (0–100) of numbers. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

/** The median of numbers. */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Runs `fn` `runs` times and returns every result (for medians). */
export async function repeat<T>(runs: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < runs; i++) out.push(await fn(i));
  return out;
}

/** Waits until `check` is true, polling every `ms`. */
export async function until(check: () => Promise<boolean>, ms = 5, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("benchmark timed out");
    await new Promise((r) => setTimeout(r, ms));
  }
}

/** Rounds for a table. */
export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** The benchmarks' three no-op-step workflow (each step adds one to the last). */
export async function threeSteps(_input: unknown, { step }: WorkflowContext): Promise<number> {
  const a = await step("a", () => 1);
  const b = await step("b", () => a + 1);
  return await step("c", () => b + 1);
}
