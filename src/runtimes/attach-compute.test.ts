import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { openTestSqlite, type TestStore } from "../../tests/support/test-db.ts";
import { Worker } from "../worker/worker.ts";
import { type AttachedCompute, attachComputeAdapters } from "./attach-compute.ts";
import { storeWorkflowSource } from "./deployed-workflows.ts";

// `WebSocketPair` exists only in Cloudflare's runtime: the output says which adapter ran it.
const WHERE_JS = `async function workflow() { return typeof WebSocketPair === "function" ? "cloudflare" : "exec"; }`;
const PY = "def workflow(input, ctx):\n    return 'python'\n";

describe("a worker with several compute adapters", () => {
  const clock = { now: 1_000_000 };
  let db: TestStore;
  let worker: Worker;
  let compute: AttachedCompute;
  const info: string[] = [];
  const ns = "multi";

  before(async () => {
    db = await openTestSqlite({ clock: () => clock.now });
    worker = new Worker({
      client: db.store,
      namespace: ns,
      clock: () => clock.now,
      logger: { info: (m) => info.push(m), warn: () => {}, error: () => {} },
    });
    // cloudflare first: JavaScript deployed for any adapter runs there, Python (which it cannot
    // run) on exec, the first adapter that runs Python.
    compute = await attachComputeAdapters(worker.registry, {
      adapters: ["cloudflare", "exec"],
      directory: process.cwd(),
      deployments: storeWorkflowSource(db.store),
      settings: { docker: EMPTY_DOCKER, cloudflare: null, resolveSecret: async () => "" },
      logger: { info: (m) => info.push(m) },
    });
  });
  after(async () => {
    await worker?.stop();
    await compute?.close();
    await db?.close();
  });

  const deploy = (
    name: string,
    source: string,
    runtime: "node" | "python",
    adapter?: "exec" | "docker" | "cloudflare",
  ) => db.store.deployWorkflow({ namespace: ns, name, runtime, source, ...(adapter ? { adapter } : {}) });
  const run = async (name: string) => {
    const { run } = await db.store.startRun({ namespace: ns, type: "workflow", name, input: null });
    await worker.drain();
    return await db.store.getRun({ namespace: ns, id: run.id });
  };

  it("says at start which adapters it has and where runs deployed for any adapter go", () => {
    assert.ok(
      info.includes(
        "Compute adapters: cloudflare (a local workerd (miniflare)), exec (local processes); workflows deployed without an adapter run on cloudflare (JavaScript) and exec (Python)",
      ),
      info.join("\n"),
    );
  });

  it("runs each version on the adapter it was deployed for, and unpinned ones on the first that runs them", async () => {
    await deploy("on-exec", WHERE_JS, "node", "exec");
    await deploy("on-cloudflare", WHERE_JS, "node", "cloudflare");
    await deploy("on-any", WHERE_JS, "node");
    await deploy("py-any", PY, "python");
    await deploy("on-docker", WHERE_JS, "node", "docker");
    compute.invalidate();
    assert.equal((await run("on-exec"))?.output, "exec");
    assert.equal((await run("on-cloudflare"))?.output, "cloudflare");
    assert.equal((await run("on-any"))?.output, "cloudflare");
    assert.equal((await run("py-any"))?.output, "python");
    const names = await worker.registry.claimNames(ns);
    assert.ok(!names.includes("on-docker"), "a version for an adapter this worker lacks is left to others");
    assert.equal((await run("on-docker"))?.status, "queued");
  });

  it("refuses to start with an adapter that cannot run here, instead of falling back", async () => {
    const other = new Worker({ client: db.store, namespace: ns });
    await assert.rejects(
      attachComputeAdapters(other.registry, {
        adapters: ["exec", "docker"],
        directory: process.cwd(),
        deployments: storeWorkflowSource(db.store),
        settings: {
          docker: { ...EMPTY_DOCKER, cli: "/nonexistent/docker" },
          cloudflare: null,
          resolveSecret: async () => "",
          env: {},
        },
      }),
      /INVALID_CONFIG|`\/nonexistent\/docker info` does not answer/,
    );
  });
});

const EMPTY_DOCKER = { cli: null, cliArgs: [], runArgs: [], nodeImage: null, pythonImage: null, rootfs: null };
