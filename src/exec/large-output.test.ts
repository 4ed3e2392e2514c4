import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { fixture } from "../../tests/support/exec-helpers.ts";

/**
 * Runs a script task in a child Node process whose heap is capped at 48 MB (tests/fixtures/
 * bounded-run.ts): buffering the output whole would crash it or leave the heap large at the end.
 * The tsx loader alone keeps ~18 MB live; a 24 MB cap left too little room for garbage under load.
 */
function runBounded(...command: string[]): Record<string, unknown> {
  const out = execFileSync(
    process.execPath,
    ["--max-old-space-size=48", "--expose-gc", "--import", "tsx", fixture("bounded-run.ts"), ...command],
    { encoding: "utf8", maxBuffer: 1024 * 1024 },
  );
  return JSON.parse(out.trim().split("\n").at(-1) as string) as Record<string, unknown>;
}

test("a 50 MB stdout streams through a 48 MB heap; output and logs keep head and tail", () => {
  const summary = runBounded(fixture("big-stdout.py"), "50");
  assert.equal(summary.verdict, "success", String(summary.error));
  assert.equal(summary.truncated, true);
  assert.ok((summary.outputSize as number) < 70 * 1024);
  assert.ok(String(summary.stdoutTailEnd).endsWith("THE END"));
  assert.equal(summary.lastLog, "THE END");
  assert.ok((summary.logsSeen as number) > 50_000_000);
  assert.ok((summary.logsKept as number) < 260 * 1024);
  assert.ok((summary.heapUsedMb as number) < 32, `heap ${summary.heapUsedMb} MB`);
});

test("a 50 MB line without any newline is split into pieces, not buffered whole", () => {
  const summary = runBounded(fixture("long-line.sh"), "50");
  assert.equal(summary.verdict, "success", String(summary.error));
  assert.equal(summary.truncated, true);
  assert.ok((summary.logsSeen as number) > 50_000_000);
  assert.ok((summary.logsKept as number) < 260 * 1024);
  assert.ok((summary.heapUsedMb as number) < 32, `heap ${summary.heapUsedMb} MB`);
});
