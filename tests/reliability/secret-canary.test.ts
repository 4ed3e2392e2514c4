/**
 * Secret canary (issue 18.6, bounded form): one canary secret is used every way a script or a flow
 * can use it — as an env variable from `${secret:…}`, printed to stdout and stderr, inside a
 * failing script's error, in output JSON, through a flow's `${secrets.…}` — and then every place
 * Kiln writes is searched for the raw value: the SQLite database file (and its WAL), the server's
 * own output, and the API's answers (runs, steps, logs). Transformed values (base64, a value split
 * across lines) are printed too: masking cannot recognise them, as documented in the README, and
 * the test checks that the raw value still never appears.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually, type KilnProcess, kiln, startKiln } from "../e2e/cli-support.ts";

const CANARY = "kiln-canary-7f3a9c1e5b2d";

describe("secret canary: the raw value never leaves the vault", { timeout: 180_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let g: string[];
  const answers: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-canary-"));
    writeFileSync(
      join(dir, "leak.sh"),
      `#!/usr/bin/env bash
# stdout is the output JSON (json_stdout); the rest goes to stderr, which is logged too.
echo "stderr: $API_TOKEN" >&2
echo "split: \${API_TOKEN:0:8}" >&2
echo "\${API_TOKEN:8}" >&2
echo "base64: $(printf %s "$API_TOKEN" | base64)" >&2
printf '{"token": "%s", "nested": {"list": ["%s"]}}\\n' "$API_TOKEN" "$API_TOKEN"
`,
    );
    writeFileSync(join(dir, "fail.sh"), `#!/usr/bin/env bash\necho "fatal: bad token $API_TOKEN" >&2\nexit 2\n`);
    writeFileSync(
      join(dir, "kiln.yaml"),
      `worker: { name: canary-worker, queue: default, concurrency: 2 }
tasks:
  - kind: leak
    command: bash
    args: ["leak.sh"]
    output_format: json_stdout
    env: { API_TOKEN: "\${secret:CANARY}" }
  - kind: fail
    command: bash
    args: ["fail.sh"]
    max_retries: 0
    env: { API_TOKEN: "\${secret:CANARY}" }
`,
    );
    writeFileSync(
      join(dir, "flow.yaml"),
      `nodes:
  use:
    type: transform
    params:
      script: |
        console.log("flow sees", secrets.CANARY);
        return { echoed: secrets.CANARY, upper: secrets.CANARY.toUpperCase() };
`,
    );
    dev = await startKiln(["dev", "--port", "0"], dir);
    g = ["--server", dev.url, "--data", join(dir, ".kiln")];
    const set = await kiln([...g, "secrets", "set", "CANARY", CANARY]);
    assert.equal(set.code, 0, set.err);
  });

  after(async () => {
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const api = async (args: string[]) => {
    const r = await kiln([...g, ...args]);
    answers.push(r.out, r.err);
    return r;
  };

  it("runs every use of the secret: env, stderr, a failing script's error, output JSON, a flow", async () => {
    const leak = await api(["run", "leak", "--wait", "--json"]);
    assert.equal(leak.code, 0, leak.err + leak.out);
    const run = leak.json() as { id: string; output: { token: string; nested: { list: string[] } } };
    assert.equal(run.output.token, "***");
    assert.deepEqual(run.output.nested.list, ["***"]);
    const fail = await api(["run", "fail", "--wait", "--json"]);
    assert.notEqual(fail.code, 0);
    assert.ok(/\*\*\*/.test(fail.out + fail.err), fail.out + fail.err);

    assert.equal((await api(["deploy", "canary-flow", "-f", join(dir, "flow.yaml")])).code, 0);
    const flow = await api(["start", "canary-flow", "--wait", "--json"]);
    assert.equal(flow.code, 0, flow.err + flow.out);
    const flowRun = flow.json() as { id: string };

    for (const id of [run.id, (fail.json() as { id: string }).id, flowRun.id]) {
      await api(["status", id, "--json"]);
      await api(["logs", id]);
    }
    await api(["list", "runs", "--json"]);
    const logs = await api(["logs", run.id]);
    assert.match(logs.out, /stderr: \*\*\*/);
  });

  it("finds the raw value nowhere: API answers, the database file and WAL, the server's output", async () => {
    await eventually(async () => (existsSync(join(dir, ".kiln", "kiln.db")) ? true : undefined));
    const places: [string, string][] = [
      ["API answers", answers.join("\n")],
      ["kiln dev output", dev.output()],
    ];
    for (const file of ["kiln.db", "kiln.db-wal"]) {
      const path = join(dir, ".kiln", file);
      if (existsSync(path)) places.push([file, readFileSync(path).toString("latin1")]);
    }
    for (const [where, text] of places) {
      assert.ok(!text.includes(CANARY), `the canary is in ${where}`);
    }
    // The transformed forms are not masked (README: "What masking cannot catch").
    const logs = answers.join("\n");
    assert.ok(logs.includes(Buffer.from(CANARY).toString("base64")), "base64 form printed as is");
  });
});
