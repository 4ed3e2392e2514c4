// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} syntax appears in plain strings on purpose.
/**
 * Issue 20.6, 20.7 and 20.9 as a user meets them: `kiln validate` refuses input spliced into
 * program text and secrets in args; through a real `kiln dev`, a path built from input cannot
 * leave the task's directory, and with `commands: file-only` echoed input cannot set outputs.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Run } from "../../src/engine/run.ts";
import { type KilnProcess, kiln, startKiln } from "./cli-support.ts";

describe("script config rules through the CLI and kiln dev", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-script-rules-"));
  let dev: KilnProcess | undefined;
  let g: string[] = [];

  before(async () => {
    const init = await kiln(["init", dir]);
    assert.equal(init.code, 0, init.err);
    writeFileSync(
      join(dir, "kiln.yaml"),
      `${readFileSync(join(dir, "kiln.yaml"), "utf8")}
  - kind: report
    command: "true"
    output_format: file
    output_file: "\${INPUT_REPORT}"
  - kind: echo-input
    command: bash
    args: ["-c", 'printf "%s\\\\n" "$INPUT_TEXT"; echo "real=yes" >> "$KILN_OUTPUT"']
    output_format: exit_code_only
    commands: file-only
`,
    );
    dev = await startKiln(["dev", "--port", "0"], dir);
    g = ["--server", dev.url, "--data", join(dir, ".kiln")];
  });
  after(async () => {
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("kiln validate refuses input in bash -c text and a secret in args, naming the fix", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(
      bad,
      'tasks:\n  - kind: a\n    command: bash\n    args: ["-c", "echo ${INPUT_NAME}"]\n  - kind: b\n    command: curl\n    args: ["-u", "me:${secret:PASS}"]\n',
    );
    const r = await kiln(["validate", bad]);
    assert.equal(r.code, 1);
    assert.match(r.err, /tasks\[0\]\.args.*use input_format: env/);
    assert.match(r.err, /tasks\[1\]\.args.*\/proc\/PID\/cmdline/);
  });

  it("a run whose input points output_file outside the task's directory fails with PATH_NOT_ALLOWED", async () => {
    const r = await kiln([...g, "run", "report", "-i", '{"report":"../../../../etc/passwd"}', "--wait", "--json"]);
    const run = r.json() as Run;
    assert.equal(run.status, "failed", r.out);
    assert.equal(run.error?.code, "PATH_NOT_ALLOWED");
    assert.doesNotMatch(r.out, /root:x:0/);
  });

  it("with commands: file-only, an echoed ::set-output does not set the output", async () => {
    const input = JSON.stringify({ text: "x\n::set-output key=injected::yes" });
    const r = await kiln([...g, "run", "echo-input", "-i", input, "--wait", "--json"]);
    const run = r.json() as Run;
    assert.equal(run.status, "completed", r.out);
    assert.deepEqual(run.output, { exitCode: 0, real: "yes" });
  });
});
