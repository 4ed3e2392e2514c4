import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openTestSqlite } from "../../tests/support/test-db.ts";
import { workerMetrics } from "../worker/health-server.ts";
import { ServerMetrics } from "./metrics.ts";

const DOC = join(import.meta.dirname, "..", "..", "docs", "operations.md");

/** The rows of the metrics table that docs/operations.md must hold, from a live registry. */
async function rowsOf(
  metrics: readonly { name: string; help: string; labelNames?: readonly string[]; get(): Promise<{ type: string }> }[],
  where: string,
) {
  const rows: string[] = [];
  for (const m of metrics) {
    if (!m.name.startsWith("kiln_") || m.name.startsWith("kiln_process_")) continue;
    const labels = (m.labelNames ?? []).map((l) => `\`${l}\``).join(", ") || "-";
    rows.push(`| \`${m.name}\` | ${(await m.get()).type} | ${labels} | ${where} | ${m.help} |`);
  }
  return rows;
}

describe("docs/operations.md metrics list", () => {
  it("lists every metric the server and the worker register, with its type and labels", async () => {
    // Generated from the registries: a metric added, renamed or relabelled fails this test until the doc follows.
    const db = await openTestSqlite();
    const server = new ServerMetrics(db.store);
    const worker = workerMetrics({ activeCount: 0, processed: 0 }, () => "ready");
    try {
      const expected = [
        ...(await rowsOf(server.registry.getMetricsAsArray() as never, "server")),
        ...(await rowsOf(worker.registry.getMetricsAsArray() as never, "worker (`--health-port`)")),
      ];
      const doc = readFileSync(DOC, "utf8");
      const section = doc.slice(doc.indexOf("## Metrics"));
      const documented = section.split("\n").filter((l) => l.startsWith("| `kiln_"));
      assert.deepEqual(documented, expected, `Put this table in the Metrics section:\n${expected.join("\n")}`);
    } finally {
      await db.close();
    }
  });
});
