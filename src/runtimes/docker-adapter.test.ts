import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { openTestSqlite, type TestStore } from "../../tests/support/test-db.ts";
import { type DockerAdapterOptions, dockerAdapter } from "./docker-adapter.ts";
import { HostPool } from "./host-pool.ts";
import { counted, eventually, hostHarness, makeWorkflowDirectory } from "../../tests/support/host-harness.ts";

const clock = { now: 1_000_000 };
const STAND_IN = fileURLToPath(new URL("../../tests/fixtures/docker-stand-in.mjs", import.meta.url));

// Where the code ran: podman writes /run/.containerenv into every container.
const JS = `async function workflow(input, { step, sleep }) {
  const a = await step("a", () => {
    require("node:fs").appendFileSync(input.counter, "a\\n");
    return 20;
  });
  await sleep("pause", 1000);
  const b = await step("b", () => 22);
  return { sum: a + b, container: require("node:fs").existsSync("/run/.containerenv") };
}
`;

const PY = `import os

def workflow(input, ctx):
    n = ctx.step("n", lambda: 7)
    return {"n": n * 6, "container": os.path.exists("/run/.containerenv")}
`;

/** Runs the JS and Python workflows in hosts of `options`' adapter; returns their outputs. */
async function runBoth(db: TestStore, ns: string, options: DockerAdapterOptions) {
  const dir = makeWorkflowDirectory();
  const pool = new HostPool({ size: 1, directory: dir, adapter: dockerAdapter(options) });
  try {
    const h = hostHarness(db, clock, ns, pool);
    const counter = join(dir, "counter");
    await h.deploy("sum", JS);
    await h.deploy("py", PY, "python");
    const js = await h.start("sum", { counter });
    const py = await h.start("py");
    await h.drain();
    clock.now += 1000;
    await h.drain();
    return { js: await h.run(js), py: await h.run(py), counter: counted(counter) };
  } finally {
    await pool.close();
  }
}

describe("the docker compute adapter", () => {
  let db: TestStore;
  before(async () => {
    db = await openTestSqlite({ clock: () => clock.now });
  });
  after(async () => {
    await db?.close();
  });

  describe("through a Docker-compatible stand-in CLI (command line and protocol plumbing)", () => {
    const log = join(mkdtempSync(join(tmpdir(), "kiln-stand-in-")), "calls.jsonl");
    const calls = (): string[][] =>
      readFileSync(log, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as string[]);
    const options: DockerAdapterOptions = {
      docker: STAND_IN,
      cliArgs: ["--log-level", "error"],
      runArgs: ["--network=none", "--memory=256m"],
      nodeImage: "kiln-test/node:1",
      pythonImage: "kiln-test/python:1",
    };
    before(() => {
      process.env.KILN_STAND_IN_LOG = log;
    });
    after(() => {
      delete process.env.KILN_STAND_IN_LOG;
    });

    it("runs JS and Python workflows over the host protocol on stdio of `run -i`", async () => {
      const { js, py, counter } = await runBoth(db, "stand-in", options);
      assert.equal(js.status, "completed", JSON.stringify(js.error));
      assert.deepEqual(js.output, { sum: 42, container: false });
      assert.equal(py.status, "completed", JSON.stringify(py.error));
      assert.deepEqual(py.output, { n: 42, container: false });
      assert.deepEqual(counter, ["a"], "the recorded step ran once across the sleep");
      const runs = calls().filter((c) => c[2] === "run");
      assert.ok(runs.length >= 2, JSON.stringify(calls()));
      for (const c of runs) {
        assert.deepEqual(c.slice(0, 7), ["--log-level", "error", "run", "-i", "--rm", "--init", "--name"]);
        assert.ok(c.includes("--network=none") && c.includes("--memory=256m"), c.join(" "));
        assert.ok(c.includes("PYTHONPATH=" + fileURLToPath(new URL("../../python", import.meta.url))), c.join(" "));
      }
      assert.ok(runs.some((c) => c.includes("kiln-test/node:1") && c.includes("node")));
      assert.ok(runs.some((c) => c.includes("kiln-test/python:1") && c.includes("kiln_runtime")));
    });

    it("kills a host by stopping its container (`kill NAME`), not only the CLI", async () => {
      const adapter = dockerAdapter(options);
      assert.equal(await adapter.available(), true);
      const host = adapter.spawnHost({ runtime: "python", directory: tmpdir() });
      await new Promise((r) => host.stdout.once("data", r)); // the host's `ready`
      host.kill();
      await host.exited;
      const run = calls().findLast((c) => c[2] === "run") as string[];
      const name = run[run.indexOf("--name") + 1];
      // The `kill` runs beside the CLI's own SIGKILL, which ends the stand-in first.
      await eventually(() => calls().some((c) => c[2] === "kill" && c[3] === name));
    });

    it("reports an engine that does not answer `info` as unavailable", async () => {
      assert.equal(await dockerAdapter({ docker: join(tmpdir(), "no-such-docker-cli") }).available(), false);
    });
  });

  // Rootful podman on this machine's own root filesystem (an overlay: no registry needed). crun
  // cannot run in the hybrid cgroup layout of these machines, so runc with cgroupfs; the limits
  // podman sets by default exceed the machine's hard ones, so they are set within them.
  const podman: DockerAdapterOptions = {
    docker: "podman",
    cliArgs: ["--runtime", "runc", "--cgroup-manager", "cgroupfs"],
    runArgs: ["--network=none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"],
    rootfs: "/",
  };
  describe("on rootful podman", { skip: podmanSkip(podman) }, () => {
    it("runs JS and Python workflows in real containers", async () => {
      const { js, py, counter } = await runBoth(db, "podman", podman);
      assert.equal(js.status, "completed", JSON.stringify(js.error));
      assert.deepEqual(js.output, { sum: 42, container: true });
      assert.equal(py.status, "completed", JSON.stringify(py.error));
      assert.deepEqual(py.output, { n: 42, container: true });
      assert.deepEqual(counter, ["a"], "the workflow directory is mounted read-write at its path");
    });
  });
});

/** Why podman cannot run a container here (the reason the test is skipped), or false. */
function podmanSkip(options: DockerAdapterOptions): string | false {
  if (!existsSync("/usr/bin/podman")) return "podman is not installed (.ci/run installs it with apt where it can)";
  try {
    execFileSync(
      "podman",
      [...(options.cliArgs ?? []), "run", "--rm", ...(options.runArgs ?? []), "--rootfs", "/:O", "/bin/true"],
      { stdio: "pipe", timeout: 60_000 },
    );
    return false;
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? (error as Error).message).trim();
    return `podman cannot run a container on this machine: ${stderr.split("\n").at(-1)}`;
  }
}
