// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${VAR} syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fixture, memoryRunStore, memoryTaskContext, runInTest } from "../../tests/support/exec-helpers.ts";

const temp = mkdtempSync(join(tmpdir(), "kiln-mask-"));
after(() => rmSync(temp, { recursive: true, force: true }));
const SECRET = "tok_9f8e7d6c5b4a";

for (const exitCode of [0, 1]) {
  test(`a secret and an ::add-mask:: value never appear in logs, output, errors or state (exit ${exitCode})`, async () => {
    const generatedFile = join(temp, `generated-${exitCode}`);
    const store = memoryRunStore();
    const ctx = memoryTaskContext({ store });
    const { result } = await runInTest(
      {
        command: fixture("masked-value.sh"),
        secrets: ["API_TOKEN"],
        env: { GENERATED_FILE: generatedFile, EXIT_CODE: String(exitCode) },
      },
      { ctx, secrets: { API_TOKEN: SECRET } },
    );
    const generated = readFileSync(generatedFile, "utf8");
    assert.match(generated, /^gen-\d+-s3cr3t$/);
    assert.equal(result.verdict, exitCode === 0 ? "success" : "failure");
    const everything = JSON.stringify({
      result,
      error: result.error?.toJSON(),
      logs: ctx.logs,
      progress: ctx.progressReports,
      state: Object.fromEntries(store.state),
    });
    assert.ok(!everything.includes(SECRET), "the secret leaked");
    assert.ok(!everything.includes(generated), "the add-mask value leaked");
    // The masked places still carry the text around the values.
    assert.ok(ctx.logs.some((l) => l.message === "token is *** and generated is ***"));
    assert.ok(ctx.logs.some((l) => l.level === "warning" && l.message === "stderr sees *** / ***"));
    assert.ok(ctx.logs.some((l) => l.level === "warning" && l.message === "warn *** ***"));
    assert.deepEqual(ctx.progressReports, [{ percent: 10, message: "progress ***" }]);
    assert.equal(store.state.get("leak"), "***|***");
    assert.equal((result.output as Record<string, unknown>).leak, "***|***");
    assert.equal((result.output as Record<string, unknown>).file_leak, "***");
    if (exitCode === 1) {
      assert.equal(result.error?.message, "test-kind exited with code 1: stderr sees *** / ***");
      assert.equal(result.error?.data?.stderrTail, "stderr sees *** / ***");
    }
  });
}

test("a secret echoed back through the local API and a step record is masked", async () => {
  const store = memoryRunStore();
  const { result, ctx } = await runInTest(
    {
      command: "bash",
      args: [
        "-c",
        `node ${fixture("api-client.mjs")} log info "api $TOKEN"; ` +
          `node ${fixture("api-client.mjs")} state set k "$TOKEN"; ` +
          `node ${fixture("api-client.mjs")} output set o "$TOKEN"; ` +
          `node ${fixture("api-client.mjs")} step s -- echo "$TOKEN"`,
      ],
      env: { TOKEN: "${secret:API_TOKEN}" },
    },
    { store, secrets: { API_TOKEN: SECRET } },
  );
  assert.equal(result.verdict, "success", result.error?.message);
  const everything = JSON.stringify({ result, logs: ctx.logs, state: [...store.state], steps: [...store.steps] });
  assert.ok(!everything.includes(SECRET));
  assert.ok(ctx.logs.some((l) => l.message === "api ***"));
  assert.equal(store.state.get("k"), "***");
  assert.deepEqual(store.steps.get("s")?.output, { stdout: "***\n", exitCode: 0 });
});

test("a secret split across two stdout/stderr chunks is still masked (masking is per line)", async () => {
  const half = SECRET.length / 2;
  const script =
    `printf 'start ${SECRET.slice(0, half)}'; sleep 0.2; printf '${SECRET.slice(half)} end\\n'; ` +
    `printf 'err ${SECRET.slice(0, half)}' >&2; sleep 0.2; printf '${SECRET.slice(half)}\\n' >&2; exit 1`;
  const { result, ctx } = await runInTest(
    { command: "bash", args: ["-c", script] },
    { secrets: { API_TOKEN: SECRET } },
  );
  const everything = JSON.stringify({ result, error: result.error?.toJSON(), logs: ctx.logs });
  assert.ok(!everything.includes(SECRET));
  assert.deepEqual(
    ctx.logs.map((l) => l.message),
    ["start *** end", "err ***"],
  );
});
