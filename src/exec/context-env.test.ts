// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${VAR} syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { test } from "node:test";
import { makeTraceparent } from "./context-env.ts";
import { fixture, memoryRunStore, memoryTaskContext, runInTest } from "../../tests/support/exec-helpers.ts";

test("the context environment of a script attempt: STATE_<KEY>, declared secrets; the worker's KILN_* are not inherited", async () => {
  const store = memoryRunStore();
  store.state.set("cursor", "17");
  store.state.set("last-file", "a.csv");
  const ctx = memoryTaskContext({ attempt: 2, store, parentRunId: "0190d7a4-0000-7000-8000-00000000f00d" });
  const { result } = await runInTest(
    {
      command: fixture("env-dump.sh"),
      output_format: "json_stdout",
      max_retries: 5,
      secrets: ["DB_PASS"],
      env: { BUCKET: "s3://b", KILN_RUN_ID: "cannot override" },
    },
    {
      ctx,
      secrets: { DB_PASS: "pw-123" },
      baseEnv: { PATH: process.env.PATH, KILN_TOKEN: "worker-secret", KILN_CONFIG: "/x" },
    },
  );
  const env = result.output as Record<string, string>;
  assert.equal(env.KILN_RUN_ID, ctx.run.id);
  assert.equal(env.KILN_TASK_KIND, "test-kind");
  assert.equal(env.KILN_ATTEMPT, "2");
  assert.equal(env.KILN_MAX_RETRIES, "5");
  assert.equal(env.KILN_WORKFLOW_RUN_ID, "0190d7a4-0000-7000-8000-00000000f00d");
  assert.equal(env.KILN_WORKFLOW_NAME, "");
  assert.equal(env.KILN_IDEMPOTENCY_KEY, ctx.run.id);
  assert.match(env.TRACEPARENT ?? "", /^00-0190d7a43c1e7b5a9f0000000000abcd-[0-9a-f]{16}-01$/);
  assert.match(env.KILN_API_SOCKET ?? "", /\/api\.sock$/);
  assert.match(env.KILN_API_TOKEN ?? "", /^[A-Za-z0-9_-]{43}$/);
  assert.match(env.KILN_OUTPUT ?? "", /\/attempt-\d+\.output\.env$/);
  assert.match(env.KILN_STATE ?? "", /\/attempt-\d+\.state\.env$/);
  assert.equal(env.STATE_CURSOR, "17");
  assert.equal(env.STATE_LAST_FILE, "a.csv");
  assert.equal(env.BUCKET, "s3://b");
  assert.equal(env.DB_PASS, "***", "secrets are masked in the output");
  assert.equal(env.KILN_TOKEN, undefined);
  assert.equal(env.KILN_CONFIG, undefined);
});

test("the local API socket is 0600 inside a 0700 directory", async () => {
  const { result } = await runInTest({
    command: "bash",
    args: ["-c", 'stat -c "%a" "$KILN_API_SOCKET" "$(dirname "$KILN_API_SOCKET")"'],
  });
  assert.deepEqual((result.output as { stdout: string }).stdout.split("\n"), ["600", "700"]);
});

test("a declared secret that the worker did not provide is SECRET_NOT_FOUND", async () => {
  const { result } = await runInTest({ command: "true", secrets: ["MISSING"] });
  assert.equal(result.error?.code, "SECRET_NOT_FOUND");
  const referenced = await runInTest({ command: "true", env: { O: "${secret:OTHER}" } });
  assert.equal(referenced.result.error?.code, "SECRET_NOT_FOUND");
});

test("traceparent continues a parent trace, else derives the trace id from the run id", () => {
  const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  assert.match(
    makeTraceparent("0190d7a4-3c1e-7b5a-9f00-00000000abcd", parent),
    /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/,
  );
  assert.match(makeTraceparent("not-a-uuid", null), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.notEqual(makeTraceparent("x", null).split("-")[2], makeTraceparent("x", null).split("-")[2]);
  assert.ok(statSync(fixture("env-dump.sh")).mode & 0o100);
});
