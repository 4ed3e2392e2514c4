import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { takeOverWorkerInstance, workerInstanceFile } from "./worker-instance.ts";

describe("takeOverWorkerInstance", () => {
  it("reports a previous process of the same worker gone only when it is no longer running", () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-instance-"));
    try {
      const file = workerInstanceFile(dir, { server: "http://s", namespace: "default", name: "w1" });
      assert.notEqual(file, workerInstanceFile(dir, { server: "http://s", namespace: "default", name: "w2" }));
      assert.deepEqual(takeOverWorkerInstance(file), { previousGone: false }, "no previous process");
      assert.deepEqual(takeOverWorkerInstance(file), { previousGone: false }, "the previous one is this process");
      // A process that has exited.
      const dead = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" });
      writeFileSync(file, JSON.stringify({ pid: Number(dead.stdout.trim()) }));
      assert.deepEqual(takeOverWorkerInstance(file), { previousGone: true });
      // A live process (our parent) with the same name is never taken over.
      writeFileSync(file, JSON.stringify({ pid: process.ppid }));
      assert.deepEqual(takeOverWorkerInstance(file), { previousGone: false });
      // The same pid started at another time is another process: the recorded one is gone.
      writeFileSync(file, JSON.stringify({ pid: process.ppid, startTime: "1" }));
      assert.deepEqual(takeOverWorkerInstance(file), { previousGone: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
