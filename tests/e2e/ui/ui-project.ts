/** The project the browser tests serve with `kiln dev`: script tasks, a saga workflow, a flow. */
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const QUICKSTART = fileURLToPath(new URL("../../../examples/quickstart/", import.meta.url));

const CONFIG = `server:
  url: http://127.0.0.1:7700
  namespace: default
worker:
  name: ui-worker
  queue: default
  concurrency: 8
tasks:
  - kind: hello
    command: bash
    args: ["scripts/hello.sh"]
    input_format: env
    output_format: json_stdout
    commands: file-only
    timeout_seconds: 60
    max_retries: 3
  - kind: slow-logs
    command: bash
    args: ["scripts/slow-logs.sh"]
    input_format: env
    output_format: stdout
    timeout_seconds: 120
  - kind: flaky
    command: bash
    args: ["scripts/flaky.sh"]
    input_format: env
    output_format: stdout
    timeout_seconds: 60
    max_retries: 0
`;

// Logs a group, reports progress, then waits for the test to create the release file.
const SLOW_LOGS = `#!/usr/bin/env bash
set -euo pipefail
echo "::group::setup"
echo "preparing \${INPUT_NAME:-job}"
echo "::progress percent=30::half way"
echo "::warning::disk almost full"
echo "::endgroup::"
for i in $(seq 1 600); do
  [ -f "\${INPUT_RELEASE}" ] && break
  echo "tick $i"
  sleep 0.2
done
echo "::progress percent=100::done"
echo "finished"
`;

// Fails its first attempt, succeeds on a retry.
const FLAKY = `#!/usr/bin/env bash
if [ "\${KILN_ATTEMPT}" = "1" ]; then echo "first attempt fails" >&2; exit 3; fi
echo "attempt \${KILN_ATTEMPT} works"
`;

// A saga: a compensable step, then a wait for an event (cancel it to see the compensation).
const BOOKING = `export default async function booking(input: { key: string }, ctx: any) {
  const room = await ctx.step("reserve", () => "R-1", { compensate: (r: string) => "released " + r });
  const answer = await ctx.waitForEvent("confirm", { event: "booking.confirmed", key: input.key });
  return { room, answer };
}
`;

// A flow with an input schema: the UI's start form checks it before posting.
const GREET_FLOW = `metadata:
  name: greet-flow
params:
  type: object
  required: [name]
  properties:
    name: { type: string }
nodes:
  greet:
    type: transform
    params:
      script: |
        return { greeting: "Hi " + input.name };
`;

/** Creates the project in a temporary directory and returns its path. */
export function createUiProject(): string {
  const dir = mkdtempSync(join(tmpdir(), "kiln-ui-"));
  mkdirSync(join(dir, "scripts"));
  mkdirSync(join(dir, "workflows"));
  writeFileSync(join(dir, "kiln.yaml"), CONFIG);
  cpSync(join(QUICKSTART, "scripts/hello.sh"), join(dir, "scripts/hello.sh"));
  writeFileSync(join(dir, "scripts/slow-logs.sh"), SLOW_LOGS);
  writeFileSync(join(dir, "scripts/flaky.sh"), FLAKY);
  cpSync(join(QUICKSTART, "workflows/hello.js"), join(dir, "workflows/hello.js"));
  cpSync(join(QUICKSTART, "workflows/approval.yaml"), join(dir, "workflows/approval.yaml"));
  writeFileSync(join(dir, "workflows/booking.ts"), BOOKING);
  writeFileSync(join(dir, "workflows/greet-flow.yaml"), GREET_FLOW);
  return dir;
}
