/**
 * Compute adapters through the CLI against a real `kiln dev`: a JS workflow deployed with
 * `-a cloudflare` runs on a local workerd (Cloudflare's runtime, through miniflare) and survives
 * a restart of the worker without repeating a recorded step; the config's per-workflow adapter
 * applies when `-a` is not given; a Python workflow is refused for cloudflare.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Run } from "../../src/engine/run.ts";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

// The example of docs/adapters.md (its shell block runs below too). `WebSocketPair` is a global of
// Cloudflare's runtime only: the output says where the code ran.
const DOC = readFileSync(join(import.meta.dirname, "..", "..", "docs", "adapters.md"), "utf8");
const WF = /```js\n([\s\S]*?)```/.exec(DOC)?.[1] as string;
const COMMANDS = /```sh\n([\s\S]*?)```/.exec(DOC)?.[1] as string;

/** The words of a shell line (plain words and single-quoted strings are all the block uses). */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => (m[1] ?? m[2]) as string);
}

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
    writeFileSync(join(dir, "notify.js"), WF);
    writeFileSync(join(dir, "configured.js"), WF);
    writeFileSync(join(dir, "py.py"), "async def workflow(input, ctx):\n    return 1\n");
    hitsServer = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        hits.push(body);
        res.end("ok");
      });
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

  it("runs the shell block of docs/adapters.md: deploy -a cloudflare, then start --wait completes on workerd", async () => {
    hits.length = 0;
    const lines = COMMANDS.split("\n").filter((l) => l.trim() !== "");
    assert.equal(lines.length, 2);
    const results = [];
    for (const line of lines) {
      const [bin, ...args] = words(line.replace("http://127.0.0.1:8080/hook", hitsUrl));
      assert.equal(bin, "kiln");
      results.push(await kiln([...g, ...args.map((a) => (a === "notify.js" ? join(dir, a) : a)), "--json"]));
    }
    const [deployed, started] = results;
    assert.equal(deployed?.code, 0, deployed?.err);
    assert.equal(started?.code, 0, started?.err);
    const run = started?.json() as Run;
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.deepEqual(run.output, { charged: true, shipped: true, where: "workerd" });
    assert.deepEqual(hits, ["charge", "ship"]);
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
      JSON.stringify({ webhook: hitsUrl, pauseMs: 0 }),
      "--wait",
      "--json",
    ]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual((r.json() as Run).output, { charged: true, shipped: true, where: "workerd" });
  });

  it("refuses a Python workflow for the cloudflare adapter", async () => {
    const r = await kiln([...g, "deploy", "-a", "cloudflare", join(dir, "py.py")]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /Cloudflare Workers run JavaScript only/);
  });

  it("resumes a sleeping run after the worker restarts, without repeating the recorded step", async () => {
    hits.length = 0;
    const input = JSON.stringify({ webhook: hitsUrl, pauseMs: 4000 });
    const started = await kiln([...g, "start", "notify", "-i", input, "--json"]);
    assert.equal(started.code, 0, started.err);
    const { id } = started.json() as Run;
    await eventually(async () => {
      const r = await kiln([...g, "status", id, "--json"]);
      return (r.json() as Run).status === "sleeping" ? true : undefined;
    });
    assert.deepEqual(hits, ["charge"]);
    await dev?.stop();
    await startDev();
    const done = await eventually(async () => {
      const r = await kiln([...g, "status", id, "--json"]);
      const run = r.json() as Run;
      return run.status === "completed" || run.status === "failed" ? run : undefined;
    }, 60_000);
    assert.equal(done.status, "completed", JSON.stringify(done.error));
    assert.deepEqual(done.output, { charged: true, shipped: true, where: "workerd" });
    assert.deepEqual(hits, ["charge", "ship"], "the charge step ran once, before the restart");
  });
});
