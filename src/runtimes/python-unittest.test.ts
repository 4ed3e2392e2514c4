import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { it } from "node:test";

/** KILN_TEST_PYTHON picks the interpreter (e.g. a Python 3.9 to check the minimum version). */
const PYTHON = process.env.KILN_TEST_PYTHON ?? "python3";

it("the Python runtime's own unittest suite passes (python3 -m unittest discover -s python/tests)", () => {
  const root = new URL("../..", import.meta.url).pathname;
  const result = spawnSync(PYTHON, ["-m", "unittest", "discover", "-s", "python/tests"], {
    cwd: root,
    encoding: "utf8",
    timeout: 120_000,
  });
  const report = `${result.stdout}${result.stderr}`;
  assert.equal(result.status, 0, report);
  const ran = /Ran (\d+) tests?/.exec(report);
  assert.ok(ran && Number(ran[1]) > 0, `no Python test ran:\n${report}`);
  assert.match(report, /\nOK/, report);
});
