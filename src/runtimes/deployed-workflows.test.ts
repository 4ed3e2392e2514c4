import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type TestStore, forEachStore } from "../../tests/support/test-db.ts";
import { Worker } from "../worker/worker.ts";
import { attachDeployedWorkflows, type DeployedWorkflows } from "./attach.ts";
import { storeWorkflowSource } from "./deployed-workflows.ts";

forEachStore("deployed workflows from the store", ({ open }) => {
  const clock = { now: 5_000_000 };
  const ns = "deploys";
  let db: TestStore;
  let worker: Worker;
  let deployed: DeployedWorkflows;

  before(async () => {
    db = await open({ clock: () => clock.now });
    worker = new Worker({ client: db.store, namespace: ns, clock: () => clock.now });
    deployed = attachDeployedWorkflows(worker.registry, {
      source: storeWorkflowSource(db.store),
      pool: { size: 1 },
      manualClock: true,
      cacheMs: 0,
    });
  });
  after(async () => {
    await worker?.stop();
    await deployed?.close();
    await db?.close();
  });

  const start = async (name: string, version?: string) =>
    (
      await db.store.startRun({
        namespace: ns,
        type: "workflow",
        name,
        input: { n: 2 },
        ...(version ? { version } : {}),
      })
    ).run.id;
  const output = async (id: string) => {
    const run = await db.store.getRun({ namespace: ns, id });
    assert.equal(run?.status, "completed", JSON.stringify(run?.error));
    return run?.output;
  };

  it("claims and runs JS, TypeScript and Python deployed through the store, by pinned version", async () => {
    await db.store.deployWorkflow({
      namespace: ns,
      name: "calc",
      runtime: "node",
      source: `async function workflow(input, { step }) { return await step("x", () => input.n + 1); }`,
    });
    await db.store.deployWorkflow({
      namespace: ns,
      name: "calc",
      runtime: "node",
      source: `export default async function (input: { n: number }, { step }: any): Promise<number> {
          return await step("x", (): number => input.n * 100);
        }`,
    });
    await db.store.deployWorkflow({
      namespace: ns,
      name: "calc-py",
      runtime: "python",
      source: `def workflow(input, ctx):\n    return ctx.step("x", lambda: input["n"] ** 3)\n`,
    });
    await db.store.deployWorkflow({ namespace: ns, name: "a-flow", runtime: "flow", source: "nodes: {}\n" });
    const names = await worker.registry.claimNames(ns);
    assert.ok(names.includes("calc") && names.includes("calc-py"));
    assert.ok(!names.includes("a-flow"), "YAML flows are not run by hosts");

    const v1 = await start("calc", "1");
    const v2 = await start("calc", "2");
    const latest = await start("calc");
    const py = await start("calc-py", "1");
    await worker.drain();
    assert.equal(await output(v1), 3);
    assert.equal(await output(v2), 200);
    assert.equal(await output(latest), 200);
    assert.equal(await output(py), 8);
  });

  it("runs the new code of a version number deleted and deployed again (pinned code is not cached for good)", async () => {
    const deploy = (n: number) =>
      db.store.deployWorkflow({
        namespace: ns,
        name: "reused",
        runtime: "node",
        version: "1",
        source: `async function workflow() { return ${n}; }`,
      });
    await deploy(1);
    const before = await start("reused", "1");
    await worker.drain();
    assert.equal(await output(before), 1);
    await db.store.deleteWorkflow({ namespace: ns, name: "reused" });
    await deploy(2);
    const after = await start("reused", "1");
    await worker.drain();
    assert.equal(await output(after), 2);
  });

  it("leaves workflows deployed for another compute adapter out of its claims", async () => {
    const deploy = (name: string, adapter?: "docker" | "exec") =>
      db.store.deployWorkflow({
        namespace: ns,
        name,
        runtime: "node",
        source: `async function workflow() { return "${name}"; }`,
        ...(adapter === undefined ? {} : { adapter }),
      });
    await deploy("boxed-docker", "docker");
    await deploy("boxed-exec", "exec");
    await deploy("boxed-any");
    const names = await worker.registry.claimNames(ns);
    assert.equal(deployed.pool.adapter, "exec");
    assert.ok(!names.includes("boxed-docker"), "docker deployments are left to docker workers");
    assert.ok(names.includes("boxed-exec") && names.includes("boxed-any"));
  });

  it("gives identical sources deployed under two names their own __filename", async () => {
    const source = `async function workflow() { return __filename.split("/").pop(); }`;
    for (const name of ["twin-a", "twin-b"])
      await db.store.deployWorkflow({ namespace: ns, name, runtime: "node", source });
    const a = await start("twin-a");
    const b = await start("twin-b");
    await worker.drain();
    assert.equal(await output(a), "twin-a.mjs");
    assert.equal(await output(b), "twin-b.mjs");
  });

  it("fails a host's step whose result is over the payload cap with PAYLOAD_TOO_LARGE (JS and Python)", async () => {
    await db.store.deployWorkflow({
      namespace: ns,
      name: "big-js",
      runtime: "node",
      source: `async function workflow(input, { step }) { return (await step("huge", () => "x".repeat(2 * 1024 * 1024))).length; }`,
    });
    await db.store.deployWorkflow({
      namespace: ns,
      name: "big-py",
      runtime: "python",
      source: `def workflow(input, ctx):\n    return len(ctx.step("huge", lambda: "x" * (2 * 1024 * 1024)))\n`,
    });
    const js = await start("big-js");
    const py = await start("big-py");
    await worker.drain();
    for (const id of [js, py]) {
      const run = await db.store.getRun({ namespace: ns, id });
      assert.equal(run?.status, "failed", `${id}: ${JSON.stringify(run?.error)}`);
      assert.equal(run?.error?.code, "PAYLOAD_TOO_LARGE");
    }
  });

  it("does not claim runs of workflows nobody deployed", async () => {
    const id = await start("never-deployed");
    assert.equal(await worker.drain(), 0);
    assert.equal((await db.store.getRun({ namespace: ns, id }))?.status, "queued");
  });
});

describe("deployed workflows through the HTTP API", () => {
  it("runs code deployed with POST /v1/workflows, read through the API, pinned by the server", async () => {
    const { openTestApp } = await import("../../tests/support/test-app.ts");
    const { apiWorkflowSource } = await import("./deployed-workflows.ts");
    const t = await openTestApp("sqlite");
    const worker = new Worker({ client: t.store, namespace: "team" });
    const get = async <T>(path: string): Promise<T> => {
      // Remote workers hold worker tokens, which cannot read deployments yet (the server's access
      // table allows admin, developer, viewer); the viewer token stands in until they can.
      const { status, body } = await t.json<{ error?: { code: string; message: string } }>(path, {
        token: t.tokens.viewer,
        namespace: "team",
      });
      if (status >= 400) throw Object.assign(new Error(body.error?.message), { code: body.error?.code });
      return body as T;
    };
    const deployed = attachDeployedWorkflows(worker.registry, { source: apiWorkflowSource(get), pool: { size: 1 } });
    try {
      const deploy = await t.json<{ version: string }>("/v1/workflows", {
        token: t.tokens.developer,
        namespace: "team",
        json: {
          name: "greet",
          runtime: "node",
          source: `async function workflow(input: { name: string }, { step }: any): Promise<string> {
            return await step("greet", (): string => \`Hello, \${input.name}!\`);
          }`,
        },
      });
      assert.equal(deploy.status, 201);
      const started = await t.json<{ id: string; version: string }>("/v1/runs", {
        token: t.tokens.developer,
        namespace: "team",
        json: { type: "workflow", name: "greet", input: { name: "Ada" } },
      });
      assert.equal(started.body.version, "1", "the server pins the run to the latest version");
      await worker.drain();
      const run = await t.store.getRun({ namespace: "team", id: started.body.id });
      assert.equal(run?.status, "completed", JSON.stringify(run?.error));
      assert.equal(run?.output, "Hello, Ada!");
    } finally {
      await deployed.close();
      await t.close();
    }
  });
});
