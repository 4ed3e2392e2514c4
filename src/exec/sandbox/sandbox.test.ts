/**
 * Sandboxed scripts, run for real under every profile this machine offers (bubblewrap and
 * namespaces): the filesystem, network, memory, environment and hidden-path confinement, and the
 * script contract (kill, timeout, `::` commands, output files, masking, local API) inside it.
 * A profile the machine cannot run is skipped with the reason `kiln doctor` would print.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { KILN_BIN_DIR } from "../script-kinds.ts";
import { pidAlive, runInTest } from "../../../tests/support/exec-helpers.ts";
import { probeIsolation } from "./isolation-probe.ts";
import { missingIsolation } from "./sandbox-check.ts";
import { NO_SANDBOX } from "../../config/resolve-sandbox.ts";

const root = mkdtempSync(join(tmpdir(), "kiln-sandbox-"));
const taskDir = join(root, "task");
const writable = join(root, "out");
const secretDir = join(root, "data");
mkdirSync(taskDir);
mkdirSync(writable);
mkdirSync(secretDir);
writeFileSync(join(secretDir, "master.key"), "the-master-key-bytes");
let server: Server;
let port = 0;
const accepted: string[] = [];

before(async () => {
  server = createServer((socket) => {
    accepted.push("connection");
    // The script exits as soon as it is connected: its end of the socket may reset.
    socket.on("error", () => {});
    socket.end("hello\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as { port: number }).port;
});
after(() => {
  server.close();
  rmSync(root, { recursive: true, force: true });
});

function skipReason(profile: "bubblewrap" | "namespaces", extra: Partial<typeof NO_SANDBOX> = {}): string | null {
  const missing = missingIsolation({ ...NO_SANDBOX, profile, ...extra }, probeIsolation(), () => ({
    ok: false,
    detail: "not probed",
    engine: null,
  }));
  return missing.length === 0 ? null : `${profile} cannot run here: ${missing.join("; ")}`;
}

const run = (profile: string, raw: Record<string, unknown>, options: Parameters<typeof runInTest>[1] = {}) =>
  runInTest(
    {
      shell: true,
      ...raw,
      sandbox: { profile, writable_paths: [writable], hidden_paths: [secretDir], ...(raw.sandbox as object) },
    },
    { taskDir, binDir: KILN_BIN_DIR, ...options },
  );

for (const profile of ["bubblewrap", "namespaces"] as const) {
  describe(`sandbox profile ${profile}`, () => {
    test("writes only to its writable paths and its own files; /tmp is private; the root is read-only", async (t) => {
      const reason = skipReason(profile);
      if (reason) return t.skip(reason);
      const marker = `kiln-sandbox-${profile}-${process.pid}`;
      const { result } = await run(profile, {
        command: `echo ok > ${writable}/${profile}.txt; echo no > ${taskDir}/${profile}.txt || echo task-dir-refused; echo no > /etc/${marker} || echo etc-refused; echo private > /tmp/${marker} && echo tmp-written; echo k=v >> "$KILN_OUTPUT"`,
      });
      assert.equal(result.verdict, "success", JSON.stringify(result.error));
      assert.equal(readFileSync(join(writable, `${profile}.txt`), "utf8"), "ok\n");
      assert.equal(existsSync(join(taskDir, `${profile}.txt`)), false);
      assert.equal(existsSync(`/etc/${marker}`), false);
      assert.equal(existsSync(`/tmp/${marker}`), false, "the script's /tmp is its own");
      assert.match(result.stdoutTail, /task-dir-refused/);
      assert.match(result.stdoutTail, /etc-refused/);
      assert.match(result.stdoutTail, /tmp-written/);
      assert.deepEqual(result.outputs, { k: "v" });
    });

    test("network off: no TCP connection, not even to the host's loopback; on: the host's network", async (t) => {
      const reason = skipReason(profile);
      if (reason) return t.skip(reason);
      const connect = `node -e 'const s=require("net").connect(${port},"127.0.0.1");s.on("connect",()=>{console.log("connected");process.exit(0)});s.on("error",(e)=>{console.log("refused "+e.code);process.exit(0)})'`;
      const before = accepted.length;
      const off = await run(profile, { command: connect, sandbox: { network: "off" } });
      assert.equal(off.result.verdict, "success", JSON.stringify(off.result.error));
      assert.match(off.result.stdoutTail, /refused (ENETUNREACH|ECONNREFUSED)/);
      const loopback = await run(profile, { command: connect, sandbox: { network: "loopback" } });
      assert.match(loopback.result.stdoutTail, /refused ECONNREFUSED/, "its own loopback, not the host's");
      assert.equal(accepted.length, before, "the host's listener saw no connection");
      const on = await run(profile, { command: connect, sandbox: { network: "on" } });
      assert.match(on.result.stdoutTail, /connected/);
    });

    test("is killed at its memory limit with SANDBOX_MEMORY_LIMIT", async (t) => {
      const reason = skipReason(profile, { memoryBytes: 64 * 1024 * 1024 });
      if (reason) return t.skip(reason);
      const { result } = await run(profile, {
        command: `python3 -c 'b=[]
while True: b.append(bytearray(8*1024*1024))'`,
        sandbox: { memory: "64M" },
        max_retries: 0,
      });
      assert.equal(result.verdict, "failure");
      assert.equal(result.error?.code, "SANDBOX_MEMORY_LIMIT", JSON.stringify(result.error));
      assert.match(result.error?.message ?? "", /memory limit of 64 MiB/);
      assert.equal(result.signal, "SIGKILL");
    });

    test("sees neither the worker's environment nor hidden paths (the data directory with the master key)", async (t) => {
      const reason = skipReason(profile);
      if (reason) return t.skip(reason);
      const { result } = await run(
        profile,
        {
          command: `env; ls -A ${secretDir}; cat ${secretDir}/master.key || echo key-unreadable; cat /proc/1/environ 2>/dev/null | tr '\\0' '\\n' | grep WORKER_SECRET || echo no-worker-environ`,
          env: { VISIBLE: "declared" },
        },
        { baseEnv: { ...process.env, WORKER_SECRET: "worker-only-value" } },
      );
      assert.equal(result.verdict, "success", JSON.stringify(result.error));
      assert.doesNotMatch(result.stdoutTail, /worker-only-value|the-master-key-bytes|master\.key\n/);
      assert.match(result.stdoutTail, /VISIBLE=declared/);
      assert.match(result.stdoutTail, /key-unreadable/);
      assert.match(result.stdoutTail, /no-worker-environ/);
    });

    test("timeout: SIGTERM reaches the script, the grace period holds, the group is gone", async (t) => {
      const reason = skipReason(profile);
      if (reason) return t.skip(reason);
      const { result } = await run(profile, {
        command: `trap 'echo cleaning up; sleep 0.2; echo cleaned; exit 3' TERM; sleep 60 & echo started; wait`,
        // Long enough for the sandbox to be set up on a busy machine before the limit fires.
        timeout_seconds: 4,
        grace_period_seconds: 5,
        max_retries: 0,
      });
      assert.equal(result.error?.code, "EXEC_TIMEOUT");
      assert.match(result.stdoutTail, /cleaning up\ncleaned/);
      assert.match(result.error?.message ?? "", /got SIGTERM and exited/);
      assert.equal(pidAlive(result.pid ?? 0), false);
    });

    test("the :: protocol, masking, output files and the local API work inside", async (t) => {
      const reason = skipReason(profile);
      if (reason) return t.skip(reason);
      const { result, ctx } = await run(profile, {
        command: `echo "::add-mask::hush"; echo "token hush"; echo "::set-output key=a::1"; echo b=2 >> "$KILN_OUTPUT"; echo s=3 >> "$KILN_STATE"; kiln log --level warn "via the local API"; kiln state set k v; echo '{"r":1}' > "$KILN_OUTPUT_FILE"`,
        output_format: "file",
      });
      assert.equal(result.verdict, "success", JSON.stringify(result.error));
      assert.deepEqual(result.output, { r: 1, a: "1", b: "2" });
      assert.deepEqual(result.stateChanges, { s: "3", k: "v" });
      assert.ok(ctx.logs.some((l) => l.message === "token ***"));
      assert.ok(ctx.logs.some((l) => l.message.includes("via the local API")));
    });

    test("runs as another uid", async (t) => {
      const reason = skipReason(profile, { uid: 65534 });
      if (reason) return t.skip(reason);
      const { result } = await run(profile, { command: `id -u; kiln log as-nobody`, sandbox: { uid: 65534 } });
      assert.equal(result.verdict, "success", JSON.stringify(result.error));
      assert.match(result.stdoutTail, /^65534$/m);
    });

    test("the pids limit stops a fork bomb; a writable path with quotes and spaces is mounted as written", async (t) => {
      const reason = skipReason(profile, { pids: 16 });
      if (reason) return t.skip(reason);
      const odd = join(root, `it's a "dir" $HOME`);
      mkdirSync(odd, { recursive: true });
      const { result } = await run(profile, {
        command: `python3 -c '
import os, signal, time
pids = []
for i in range(40):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(5)
        os._exit(0)
    pids.append(pid)
print("started", len(pids), flush=True)
for pid in pids:
    os.kill(pid, signal.SIGKILL)
'; echo ok > "$ODD/f.txt"`,
        env: { ODD: odd },
        sandbox: { pids: 16, writable_paths: [writable, odd] },
      });
      assert.equal(result.verdict, "success", JSON.stringify(result.error));
      const started = Number(/started (\d+)/.exec(result.stdoutTail)?.[1]);
      assert.ok(started < 16, `only ${started} of 40 background processes could start under pids: 16`);
      assert.equal(readFileSync(join(odd, "f.txt"), "utf8"), "ok\n");
    });

    test("a death by signal is reported as the signal", async (t) => {
      const reason = skipReason(profile);
      if (reason) return t.skip(reason);
      const { result } = await run(profile, { command: "kill -KILL $$", max_retries: 0 });
      assert.equal(result.signal, "SIGKILL");
      assert.equal(result.error?.code, "EXEC_SIGNALED");
    });
  });
}
