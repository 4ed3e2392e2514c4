// biome-ignore-all lint/suspicious/noTemplateCurlyInString: shell ${…} syntax appears in plain strings on purpose.
/**
 * The Forge contract through the CLI against a real `kiln dev`: the local API as the design
 * documents it (curl lines, bare state values, log details and `warn`), KILN_WORKFLOW_NAME for
 * tasks started by workflows, and the opt-in FLOVYN_* aliases.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Run } from "../../src/engine/run.ts";
import type { LogEntry } from "../../src/store/store.ts";
import { type KilnProcess, kiln, startKiln } from "./cli-support.ts";

// The calls README.md shows, word for word (curl against the per-process socket, with the
// attempt's token).
const API_SCRIPT = `set -eu
api() { curl -sS --fail-with-body --unix-socket "$KILN_API_SOCKET" -H "Authorization: Bearer $KILN_API_TOKEN" "$@"; }
api -X PUT http://kiln/state/count -d '42' >/dev/null
api -X PUT http://kiln/state/doc -d '{"a":1}' >/dev/null
api -X POST http://kiln/log -d '{"level":"warn","message":"disk almost full","details":{"disk":"92%"}}' >/dev/null
echo "::log level=warn::from the protocol"
printf '{"workflow":"%s","flovynRun":"%s","run":"%s","count":%s}\\n' \\
  "$KILN_WORKFLOW_NAME" "\${FLOVYN_RUN_ID:-}" "$KILN_RUN_ID" "$(api http://kiln/state/count)"
`;

describe("Forge contract: the local API and the context env (kiln dev)", { timeout: 180_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let g: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-forge-"));
    mkdirSync(join(dir, "workflows"));
    writeFileSync(join(dir, "api.sh"), API_SCRIPT);
    writeFileSync(join(dir, "plain.sh"), 'printf \'{"flovyn":"%s"}\' "${FLOVYN_RUN_ID:-unset}"\n');
    writeFileSync(
      join(dir, "kiln.yaml"),
      `worker: { name: forge-worker, queue: default }
tasks:
  - kind: api-script
    command: bash
    args: ["api.sh"]
    output_format: json_stdout
    flovyn_env: true
  - kind: plain-script
    command: bash
    args: ["plain.sh"]
    output_format: json_stdout
`,
    );
    writeFileSync(
      join(dir, "workflows", "forge-flow.js"),
      'async function workflow(input, { task }) {\n  return await task("api-script", {});\n}\n',
    );
    dev = await startKiln(["dev", "--port", "0"], dir);
    g = ["--server", dev.url, "--data", join(dir, ".kiln")];
  });

  after(async () => {
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function runTask(kind: string): Promise<Run> {
    const r = await kiln([...g, "run", kind, "--wait", "--json"]);
    assert.equal(r.code, 0, r.err + r.out);
    return r.json() as Run;
  }

  it("curl to the local API: a bare JSON value is stored (not deleted), warn and details are kept", async () => {
    const run = await runTask("api-script");
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.deepEqual(run.state, { count: "42", doc: '{"a":1}' });
    const output = run.output as { count: unknown; workflow: string; flovynRun: string; run: string };
    assert.deepEqual(output.count, { key: "count", value: "42" });
    assert.equal(output.workflow, "", "no workflow started this run");
    assert.equal(output.flovynRun, run.id, "flovyn_env: true gives FLOVYN_RUN_ID");
    const logs = await kiln([...g, "--json", "logs", run.id]);
    const entries = logs.out
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as LogEntry);
    const api = entries.find((e) => e.message.startsWith("disk almost full"));
    assert.equal(api?.level, "warning");
    assert.equal(api?.message, 'disk almost full {"disk":"92%"}');
    assert.equal(entries.find((e) => e.message === "from the protocol")?.level, "warning");
  });

  it("KILN_WORKFLOW_NAME names the workflow that started the task", async () => {
    const r = await kiln([...g, "start", "forge-flow", "--wait", "--json"]);
    assert.equal(r.code, 0, r.err + r.out);
    const run = r.json() as Run;
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.equal((run.output as { workflow: string }).workflow, "forge-flow");
  });

  it("FLOVYN_* aliases are opt-in", async () => {
    const run = await runTask("plain-script");
    assert.deepEqual(run.output, { flovyn: "unset" });
  });
});
