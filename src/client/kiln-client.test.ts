import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { hasCode } from "../errors.ts";
import { silentLogger } from "../server/logger.ts";
import { type KilnServer, startServer } from "../server/start-server.ts";
import { openStore } from "../store/open-store.ts";
import type { Store } from "../store/store.ts";
import { createKilnClient } from "./kiln-client.ts";

describe("the typed HTTP client against a real server", { timeout: 120_000 }, () => {
  let dir: string;
  let store: Store;
  let server: KilnServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-client-"));
    store = await openStore(join(dir, "kiln.db"));
    server = await startServer({
      store,
      host: "127.0.0.1",
      port: 0,
      dataDir: dir,
      auth: "loopback-open",
      logger: silentLogger(),
    });
  });

  after(async () => {
    await server?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts a run and its handle's result() resolves, pushed by the stream, when the run ends", async () => {
    const client = createKilnClient({ server: server.url });
    const handle = await client.startRun({ type: "task", name: "nobody-runs-this", allowUnknown: true, input: 1 });
    assert.equal(handle.started.status, "queued");
    let changes = 0;
    const outcome = handle.result({ onChange: () => changes++ });
    // Readiness: the waiter has read the run once (its stream is open) before anyone changes it.
    for (const deadline = Date.now() + 20_000; changes === 0; ) {
      assert.ok(Date.now() < deadline, "result() never read the run");
      await new Promise((r) => setTimeout(r, 10));
    }
    // Another client (another process, say) cancels it: the waiter hears of it on its stream.
    await createKilnClient({ server: server.url }).run(handle.id).cancel();
    const run = await outcome;
    assert.equal(run.id, handle.id);
    assert.equal(run.status, "cancelled");
    assert.ok(changes >= 2, "read once before, once after the change");
  });

  it("types every route: lists through the generated paths", async () => {
    const client = createKilnClient({ server: server.url, namespace: "default" });
    const page = await client.unwrap(client.api.GET("/v1/runs", { params: { query: { limit: 5 } } }));
    assert.ok(page.items.length >= 1);
    assert.equal(typeof page.items[0]?.id, "string");
  });

  it("throws KilnError with the API's code, and SERVER_UNAVAILABLE when nothing answers", async () => {
    const client = createKilnClient({ server: server.url });
    await assert.rejects(client.run("no-such-run").get(), (e) => hasCode(e, "RUN_NOT_FOUND"));
    const away = createKilnClient({ server: "http://127.0.0.1:9" });
    await assert.rejects(away.run("x").get(), (e) => hasCode(e, "SERVER_UNAVAILABLE"));
  });

  it("runs the README's example of the typed client as written", async () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const example = /```ts\n(import \{ createKilnClient \} from "kiln-engine\/client";[\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(example, "README.md has the typed client example");
    const file = join(dir, "client-example.mts");
    const entry = new URL("../client.ts", import.meta.url).pathname;
    writeFileSync(file, example.replace('"kiln-engine/client"', JSON.stringify(entry)));
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", file], {
      env: { ...process.env, KILN_SERVER: server.url },
    });
    const [status, count] = stdout.trim().split("\n");
    assert.equal(status, "cancelled");
    assert.ok(Number(count) >= 1, stdout);
  });
});
