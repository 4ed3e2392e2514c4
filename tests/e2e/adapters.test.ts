/**
 * Compute adapters through the CLI against a real `kiln dev`: a JS workflow deployed with
 * `-a cloudflare` runs on a local workerd (Cloudflare's runtime, through miniflare) and survives
 * a restart of the worker without repeating a recorded step; the config's per-workflow adapter
 * applies when `-a` is not given; a Python workflow is refused for cloudflare.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Run } from "../../src/engine/run.ts";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

// `WebSocketPair` is a global of Cloudflare's runtime only: the output says where the code ran.
const WF = `async function workflow(input, { step, sleep }) {
  const a = await step("a", async () => {
    await fetch(input.hits + "a", { method: "POST" });
    return 1;
  });
  await sleep("pause", input.pauseMs);
  const b = await step("b", async () => {
    await fetch(input.hits + "b", { method: "POST" });
    return 2;
  });
  return { sum: a + b, where: typeof WebSocketPair === "function" ? "workerd" : "node" };
}
`;

describe("compute adapters through the CLI", { timeout: 240_000 }, () => {
  let dir: string;
  let dev: KilnProcess | undefined;
  let g: string[];
  let hitsServer: Server;
  let hitsUrl: string;
  const hits: string[] = [];

  const startDev = async () => {
    dev = await startKiln(["dev", "--port", "0"], dir);
    g = ["--server", dev.url, "--data", join(dir, ".kiln")];
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-adapters-"));
    writeFileSync(
      join(dir, "kiln.yaml"),
      `worker:
  adapters: [exec, cloudflare]
workflows:
  configured: { adapter: cloudflare }
`,
    );
    writeFileSync(join(dir, "wf.js"), WF);
    writeFileSync(join(dir, "configured.js"), WF);
    writeFileSync(join(dir, "py.py"), "async def workflow(input, ctx):\n    return 1\n");
    hitsServer = createServer((req, res) => {
      hits.push(String(req.url).slice(1));
      res.end("ok");
    });
    await new Promise<void>((resolve) => hitsServer.listen(0, "127.0.0.1", resolve));
    hitsUrl = `http://127.0.0.1:${(hitsServer.address() as AddressInfo).port}/`;
    await startDev();
  });

  after(async () => {
    await dev?.stop();
    hitsServer?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("says at start which adapters the worker has", () => {
    assert.match(dev?.output() ?? "", /Compute adapters: exec \(local processes\), cloudflare \(a local workerd/);
  });

  it("deploys with -a cloudflare and `kiln start --wait` completes on workerd", async () => {
    const deployed = await kiln([...g, "deploy", "-a", "cloudflare", join(dir, "wf.js")]);
    assert.equal(deployed.code, 0, deployed.err);
    assert.match(deployed.out, /deployed wf version 1/);
    hits.length = 0;
    const input = JSON.stringify({ hits: hitsUrl, pauseMs: 0 });
    const r = await kiln([...g, "start", "wf", "-i", input, "--wait", "--json"]);
    assert.equal(r.code, 0, r.err);
    const run = r.json() as Run;
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.deepEqual(run.output, { sum: 3, where: "workerd" });
    assert.deepEqual(hits, ["a", "b"]);
  });

  it("uses the config's workflows.<name>.adapter when -a is not given", async () => {
    const deployed = await kiln([...g, "--config", join(dir, "kiln.yaml"), "deploy", join(dir, "configured.js")]);
    assert.equal(deployed.code, 0, deployed.err);
    const list = await kiln([...g, "list", "workflows", "--json"]);
    const items = (list.json() as { items: { name: string; adapter?: string }[] }).items;
    assert.equal(items.find((w) => w.name === "configured")?.adapter, "cloudflare");
    const r = await kiln([
      ...g,
      "start",
      "configured",
      "-i",
      JSON.stringify({ hits: hitsUrl, pauseMs: 0 }),
      "--wait",
      "--json",
    ]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual((r.json() as Run).output, { sum: 3, where: "workerd" });
  });

  it("refuses a Python workflow for the cloudflare adapter", async () => {
    const r = await kiln([...g, "deploy", "-a", "cloudflare", join(dir, "py.py")]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /Cloudflare Workers run JavaScript only/);
  });

  it("resumes a sleeping run after the worker restarts, without repeating the recorded step", async () => {
    hits.length = 0;
    const input = JSON.stringify({ hits: hitsUrl, pauseMs: 4000 });
    const started = await kiln([...g, "start", "wf", "-i", input, "--json"]);
    assert.equal(started.code, 0, started.err);
    const { id } = started.json() as Run;
    await eventually(async () => {
      const r = await kiln([...g, "status", id, "--json"]);
      return (r.json() as Run).status === "sleeping" ? true : undefined;
    });
    assert.deepEqual(hits, ["a"]);
    await dev?.stop();
    await startDev();
    const done = await eventually(async () => {
      const r = await kiln([...g, "status", id, "--json"]);
      const run = r.json() as Run;
      return run.status === "completed" || run.status === "failed" ? run : undefined;
    }, 60_000);
    assert.equal(done.status, "completed", JSON.stringify(done.error));
    assert.deepEqual(done.output, { sum: 3, where: "workerd" });
    assert.deepEqual(hits, ["a", "b"], "step a ran once, before the restart");
  });
});
