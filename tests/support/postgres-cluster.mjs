// Starts and stops a throwaway PostgreSQL cluster for tests and benchmarks: initdb with trust
// auth in a temp dir, a free loopback port, no fsync (data is disposable). Runs the server as the
// `postgres` user when we are root, since PostgreSQL refuses to run as root.
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

function findBinDir() {
  const fromEnv = process.env.KILN_PG_BIN;
  if (fromEnv && existsSync(join(fromEnv, "initdb"))) return fromEnv;
  const base = "/usr/lib/postgresql";
  if (existsSync(base)) {
    const versions = readdirSync(base).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) {
      const dir = join(base, v, "bin");
      if (existsSync(join(dir, "initdb"))) return dir;
    }
  }
  throw new Error(
    "no PostgreSQL server binaries (initdb) under /usr/lib/postgresql/*/bin; set KILN_PG_BIN or KILN_TEST_DATABASE_URL",
  );
}

async function freePort() {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a cluster; resolves to { url, dir, port, restart(mode), stop() }. `durable: true` keeps
 * synchronous_commit on, so that an acknowledged commit survives `restart("immediate")` (with
 * it off, the last commits die with the WAL buffers; fsync stays off: the OS does not crash).
 */
/**
 * `serverDefaults: true` (benchmarks) runs PostgreSQL with its default durability instead: fsync,
 * synchronous_commit and full_page_writes on, as users run it. `preload` sets
 * shared_preload_libraries (e.g. "pg_stat_statements" for a profile).
 */
export async function startThrowawayPostgres({ durable = false, serverDefaults = false, preload = "" } = {}) {
  const bin = findBinDir();
  const dir = mkdtempSync(join(tmpdir(), "kiln-pg-"));
  const data = join(dir, "data");
  const asRoot = process.getuid?.() === 0;
  chmodSync(dir, 0o777);
  const run = (file, args, opts = {}) =>
    asRoot
      ? execFileSync("runuser", ["-u", "postgres", "--", join(bin, file), ...args], { stdio: "pipe", ...opts })
      : execFileSync(join(bin, file), args, { stdio: "pipe", ...opts });
  run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
  const port = await freePort();
  const opts = [
    "-D",
    data,
    "-p",
    String(port),
    "-h",
    "127.0.0.1",
    "-k",
    dir,
    ...(serverDefaults
      ? []
      : ["-c", "fsync=off", "-c", `synchronous_commit=${durable ? "on" : "off"}`, "-c", "full_page_writes=off"]),
    ...(preload ? ["-c", `shared_preload_libraries=${preload}`] : []),
    "-c",
    "max_connections=200",
    "-c",
    "shared_buffers=128MB",
  ];
  const cmd = asRoot ? "runuser" : join(bin, "postgres");
  const argv = asRoot ? ["-u", "postgres", "--", join(bin, "postgres"), ...opts] : opts;
  const proc = spawn(cmd, argv, { stdio: ["ignore", "ignore", "pipe"], detached: true });
  let stderr = "";
  proc.stderr.on("data", (c) => {
    stderr = (stderr + c).slice(-2000);
  });
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      execFileSync(join(bin, "pg_isready"), ["-h", "127.0.0.1", "-p", String(port), "-q"]);
      break;
    } catch {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`postgres did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  proc.unref();
  proc.stderr.destroy();
  let stopped = false;
  // After a restart the postmaster is pg_ctl's child, no longer in our process group.
  let restarted = false;
  return {
    url,
    dir,
    port,
    /**
     * Restarts the server with `pg_ctl restart -m <mode>` ("fast": backends terminated,
     * "immediate": no shutdown checkpoint, crash recovery on start) and waits until it accepts
     * connections again. pg_ctl reuses the options of the running server (postmaster.opts).
     */
    async restart(mode) {
      restarted = true;
      run("pg_ctl", ["restart", "-D", data, "-m", mode, "-w", "-t", "30", "-l", join(dir, "restart.log")]);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (restarted) {
        try {
          run("pg_ctl", ["stop", "-D", data, "-m", "immediate", "-w"]);
        } catch {}
      }
      try {
        process.kill(-proc.pid, "SIGINT");
      } catch {}
      const until = Date.now() + 10_000;
      while (proc.exitCode === null && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      try {
        process.kill(-proc.pid, "SIGKILL");
      } catch {}
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
