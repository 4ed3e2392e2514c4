/**
 * Issue 20.3 as a user meets it: a `kiln dev` killed with SIGKILL while a script (and a setsid
 * child of it) runs leaves no process behind.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

describe("no script outlives a SIGKILLed kiln dev", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-orphans-"));
  let dev: KilnProcess | undefined;
  after(async () => {
    await dev?.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("kills the script and its setsid child when the worker dies", async () => {
    const init = await kiln(["init", dir]);
    assert.equal(init.code, 0, init.err);
    writeFileSync(
      join(dir, "kiln.yaml"),
      `${readFileSync(join(dir, "kiln.yaml"), "utf8")}
  - kind: sleeper
    command: bash
    args: ["-c", "setsid sleep 1000 & echo $! > escaped.pid; echo $$ > script.pid; sleep 1000"]
    working_directory: .
    max_retries: 0
`,
    );
    dev = await startKiln(["dev", "--port", "0"], dir);
    const g = ["--server", dev.url, "--data", join(dir, ".kiln")];
    const started = await kiln([...g, "run", "sleeper"]);
    assert.equal(started.code, 0, started.err);
    const pids = await eventually(async () => {
      try {
        const script = Number(readFileSync(join(dir, "script.pid"), "utf8"));
        const escaped = Number(readFileSync(join(dir, "escaped.pid"), "utf8"));
        return script > 0 && escaped > 0 ? [script, escaped] : undefined;
      } catch {
        return undefined;
      }
    });
    await delay(200);
    for (const pid of pids) assert.ok(alive(pid), `process ${pid} runs`);
    await dev.stop("SIGKILL");
    const left = await eventually(async () => (pids.every((pid) => !alive(pid)) ? [] : undefined), 15_000).catch(() =>
      pids.filter(alive),
    );
    assert.deepEqual(left, [], "processes outlived their SIGKILLed worker");
  });
});
