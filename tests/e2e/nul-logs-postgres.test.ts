/**
 * A script that prints a NUL byte, run by a remote worker through `kiln server` on PostgreSQL,
 * among runs of an innocent script: the worker sends their log lines in shared batches, and
 * PostgreSQL cannot store U+0000. Every innocent run keeps all its lines; the NUL becomes U+FFFD.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import type { Run } from "../../src/engine/run.ts";
import { postgresSkip } from "../support/test-db.ts";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const pgUrl = process.env.KILN_TEST_DATABASE_URL ?? "";

describe("log lines with NUL on PostgreSQL", { skip: postgresSkip(), timeout: 180_000 }, () => {
  const schema = `kiln_nul_${process.pid}_${Date.now()}`;
  const dbUrl = `${pgUrl}${pgUrl.includes("?") ? "&" : "?"}schema=${schema}`;
  let dir: string;
  const procs: KilnProcess[] = [];
  let server: KilnProcess;
  let adminToken: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-nul-"));
    writeFileSync(join(dir, "nul.sh"), "printf 'before\\n'\nprintf 'a\\000b\\n'\nprintf 'after\\n'\n");
    writeFileSync(join(dir, "innocent.sh"), 'for i in 1 2 3; do echo "line $i"; done\n');
    writeFileSync(
      join(dir, "kiln.yaml"),
      `worker: { name: nul-worker, queue: default, concurrency: 8 }
tasks:
  - kind: nul
    command: bash
    args: ["nul.sh"]
  - kind: innocent
    command: bash
    args: ["innocent.sh"]
`,
    );
    server = await startKiln(["server", "--db", dbUrl, "--port", "0", "--data", join(dir, "srv")], dir);
    procs.push(server);
    adminToken = readFileSync(join(dir, "srv", "admin-token"), "utf8").trim();
    const created = await kiln([
      ...["--server", server.url, "--token", adminToken],
      ...["tokens", "create", "--name", "workers", "--role", "worker", "--json"],
    ]);
    assert.equal(created.code, 0, created.err);
    const token = (created.json() as { token: string }).token;
    procs.push(await startKiln(["worker", "--server", server.url, "--token", token, "--data", join(dir, "wk")], dir));
  });

  after(async () => {
    for (const p of procs) await p.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });

  const api = async <T>(path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${server.url}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    assert.ok(res.ok, `${path}: ${res.status} ${await res.clone().text()}`);
    return (await res.json()) as T;
  };

  it("keeps every innocent run's lines and replaces the NUL", async () => {
    const ids: { id: string; kind: string }[] = [];
    for (let i = 0; i < 12; i++) {
      const kind = i % 4 === 0 ? "nul" : "innocent";
      ids.push({ id: (await api<Run>("/v1/runs", { type: "task", name: kind })).id, kind });
    }
    await eventually(async () => {
      const runs = await Promise.all(ids.map(({ id }) => api<Run>(`/v1/runs/${id}`)));
      return runs.every((r) => r.status === "completed") ? true : undefined;
    }, 60_000);
    for (const { id, kind } of ids) {
      const expected = kind === "nul" ? ["before", "a\ufffdb", "after"] : ["line 1", "line 2", "line 3"];
      const messages = await eventually(async () => {
        const logs = await api<{ items: { message: string }[] }>(`/v1/runs/${id}/logs`);
        const lines = logs.items.map((l) => l.message).filter((m) => expected.includes(m));
        return lines.length === expected.length ? lines : undefined;
      }, 20_000).catch(() => undefined);
      const all = (await api<{ items: { message: string }[] }>(`/v1/runs/${id}/logs`)).items.map((l) => l.message);
      assert.deepEqual(messages, expected, `run ${id} (${kind}) logs: ${JSON.stringify(all)}`);
    }
  });
});
