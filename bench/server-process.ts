/**
 * A Kiln server in its own process for the server benchmarks (workers talk to it over HTTP, as in
 * production). Opens the store named by KILN_BENCH_DB (+ KILN_BENCH_SCHEMA on PostgreSQL), prints
 * one JSON line `{ url, token }` and serves until SIGTERM.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../src/server/logger.ts";
import { startServer } from "../src/server/start-server.ts";
import { openStore } from "../src/store/open-store.ts";

const db = process.env.KILN_BENCH_DB;
if (!db) throw new Error("KILN_BENCH_DB is not set");
const schema = process.env.KILN_BENCH_SCHEMA;
const store = await openStore(db, schema === undefined ? {} : { schema });
const dataDir = mkdtempSync(join(tmpdir(), "kiln-bench-server-"));
const server = await startServer({ store, dataDir, port: 0, logger: silentLogger(), rateLimit: false });
const token = (await store.createToken({ name: "bench", namespace: "*", role: "admin" })).plaintext;
console.log(JSON.stringify({ url: server.url, token }));
process.on("SIGTERM", () => {
  void server
    .close()
    .then(() => store.close())
    .then(() => process.exit(0));
});
