/**
 * SQLite crash safety (issue 18.3): `kiln dev` is SIGKILLed mid-load again and again while clients
 * start runs over HTTP. After each kill the database passes `PRAGMA integrity_check` and every run
 * whose start was acknowledged (201) exists; a last `kiln dev` then runs every one of them to
 * completion. Bounded size here (5 kills); `KILN_RELIABILITY_FULL=1` does 20. Prints its figures.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { eventually, type KilnProcess, startKiln } from "../e2e/cli-support.ts";

const KILLS = process.env.KILN_RELIABILITY_FULL ? 20 : 5;

describe(`SQLite survives ${KILLS} SIGKILLs of kiln dev under load`, { timeout: 600_000 }, () => {
  let dir: string;
  let dev: KilnProcess | undefined;
  const acknowledged = new Set<string>();
  let attempted = 0;
  const statuses = new Map<number, number>();

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "kiln-crash-"));
    writeFileSync(
      join(dir, "kiln.yaml"),
      `worker: { name: crash-worker, queue: default, concurrency: 8 }
tasks:
  - kind: work
    command: bash
    args: ["-c", "sleep 0.05; echo done"]
`,
    );
  });
  after(async () => {
    await dev?.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts runs from 8 concurrent clients until `stop` is set; records the acknowledged ids. */
  async function load(url: string, stop: { done: boolean }): Promise<void> {
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (!stop.done) {
          attempted++;
          try {
            const r = await fetch(`${url}/v1/runs`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ type: "task", name: "work", input: { n: attempted }, allowUnknown: true }),
            });
            statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
            if (r.status === 201) acknowledged.add(((await r.json()) as { id: string }).id);
            else await r.body?.cancel();
          } catch {
            return; // the server is gone
          }
        }
      }),
    );
  }

  function check(label: string): void {
    const db = new Database(join(dir, ".kiln", "kiln.db"));
    try {
      const [integrity] = db.pragma("integrity_check") as { integrity_check: string }[];
      assert.equal(integrity?.integrity_check, "ok", label);
      const ids = new Set((db.prepare("SELECT id FROM runs").all() as { id: string }[]).map((r) => r.id));
      const lost = [...acknowledged].filter((id) => !ids.has(id));
      assert.deepEqual(lost, [], `${label}: acknowledged runs missing`);
    } finally {
      db.close();
    }
  }

  it("keeps an intact database and every acknowledged run across the kills, then completes them all", async () => {
    for (let i = 0; i < KILLS; i++) {
      dev = await startKiln(["dev", "--port", "0"], dir);
      const stop = { done: false };
      const loading = load(dev.url, stop);
      await new Promise((r) => setTimeout(r, 1000 + Math.random() * 1500));
      await dev.stop("SIGKILL");
      stop.done = true;
      await loading;
      check(`after kill ${i + 1}`);
    }
    dev = await startKiln(["dev", "--port", "0"], dir);
    const db = new Database(join(dir, ".kiln", "kiln.db"), { readonly: true });
    try {
      await eventually(async () => {
        const open = db.prepare("SELECT COUNT(*) AS n FROM runs WHERE status <> 'completed'").get() as { n: number };
        return open.n === 0 ? true : undefined;
      }, 300_000);
      const done = db.prepare("SELECT COUNT(*) AS n FROM runs WHERE status = 'completed'").get() as { n: number };
      console.log(
        `sqlite-crash: kills=${KILLS} starts attempted=${attempted} acknowledged=${acknowledged.size} statuses=${JSON.stringify(Object.fromEntries(statuses))} completed=${done.n} lost=0`,
      );
      assert.ok(done.n >= acknowledged.size);
    } finally {
      db.close();
    }
  });
});
