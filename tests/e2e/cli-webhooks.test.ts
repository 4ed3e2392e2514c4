// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
/**
 * Webhooks through the CLI against a real `kiln dev` (issue 12 items 3 and 4): a GitHub-signed
 * request starts a flow and a badly signed one is refused; an outgoing subscription to a local
 * server that fails twice then succeeds shows 3 attempts, each verified with `standardwebhooks`.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Webhook } from "standardwebhooks";
import type { Run } from "../../src/engine/run.ts";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const GH_SECRET = "it's a secret to everybody";

const ECHO_FLOW = `nodes:
  echo:
    type: transform
    params: { script: "return { ref: input.ref, event: input.event }" }
`;

describe("webhooks through the CLI (kiln dev)", { timeout: 180_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let g: string[];
  let receiver: Server;
  let receiverUrl: string;
  let signingSecret: string | undefined;
  const received: { id: string; verified: boolean; status: number; body: Record<string, unknown> }[] = [];

  before(async () => {
    // Fails the first two attempts of each message, then accepts; checks every signature.
    const tries = new Map<string, number>();
    receiver = createServer((req, res) => {
      let text = "";
      req.on("data", (c) => {
        text += c;
      });
      req.on("end", () => {
        const id = String(req.headers["webhook-id"]);
        let verified = false;
        try {
          new Webhook(signingSecret ?? "").verify(text, req.headers as Record<string, string>);
          verified = true;
        } catch {
          verified = false;
        }
        const n = (tries.get(id) ?? 0) + 1;
        tries.set(id, n);
        const status = n <= 2 ? 500 : 200;
        received.push({ id, verified, status, body: JSON.parse(text) });
        res.statusCode = status;
        res.end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/kiln-events`;
    dir = mkdtempSync(join(tmpdir(), "kiln-webhooks-"));
    writeFileSync(
      join(dir, "kiln.yaml"),
      `webhook_delivery: { initial_backoff_seconds: 0.2, poll_interval_seconds: 0.1 }
webhooks:
  - name: from-config
    workflow: on-push
    secret_from: GH_SECRET
    scheme: github
    input: { ref: "\${input.body.ref}" }
`,
    );
    writeFileSync(join(dir, "on-push.yaml"), ECHO_FLOW);
    dev = await startKiln(["dev", "--port", "0"], dir);
    g = ["--server", dev.url, "--data", join(dir, ".kiln")];
    assert.equal((await kiln([...g, "deploy", "on-push", "-f", join(dir, "on-push.yaml")])).code, 0);
    assert.equal((await kiln([...g, "deploy", "notify-me", "-f", join(dir, "on-push.yaml")])).code, 0);
    const s = await kiln([...g, "secrets", "set", "GH_SECRET", GH_SECRET]);
    assert.equal(s.code, 0, s.err);
  });

  after(async () => {
    await dev?.stop();
    receiver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const githubPost = (name: string, body: string, secret: string, query = "") =>
    fetch(`${dev.url}/hooks/default/${name}${query}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": "push",
        "x-github-delivery": `d-${Math.random()}`,
        "x-hub-signature-256": `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`,
      },
      body,
    });

  it("a GitHub-signed webhook created with the CLI starts the flow; a badly signed one gets 401", async () => {
    const c = await kiln([
      ...g,
      "webhooks",
      "create",
      "gh",
      "--workflow",
      "on-push",
      "--secret-from",
      "GH_SECRET",
      "--github",
      "--input",
      '{"ref":"${input.body.ref}","event":"${input.headers[\'x-github-event\']}"}',
    ]);
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, /POST http:\/\/.*\/hooks\/default\/gh/);
    const body = JSON.stringify({ ref: "refs/heads/main", repository: { full_name: "acme/app" } });
    const ok = await githubPost("gh", body, GH_SECRET, "?wait=60s");
    const answer = (await ok.json()) as { runId: string; status: string; output: unknown };
    assert.equal(ok.status, 200, JSON.stringify(answer));
    assert.equal(answer.status, "completed");
    assert.deepEqual(answer.output, { ref: "refs/heads/main", event: "push" });
    const shown = await kiln([...g, "status", answer.runId, "--json"]);
    assert.equal((shown.json() as Run).name, "on-push");

    const bad = await githubPost("gh", body, "not the secret");
    assert.equal(bad.status, 401);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, "WEBHOOK_SIGNATURE_INVALID");
    // The server's log line reaches this process a moment after the answer.
    await eventually(async () => (/webhook signature refused/.test(dev.output()) ? true : undefined));
    assert.doesNotMatch(dev.output(), /acme\/app/, "a refused body is never logged");
  });

  it("declares webhooks in kiln.yaml and lists, shows and deletes them", async () => {
    const list = await kiln([...g, "webhooks", "list", "--json"]);
    assert.equal(list.code, 0, list.err);
    const { endpoints } = list.json() as { endpoints: { name: string; source: string }[] };
    assert.deepEqual(
      endpoints.map((e) => [e.name, e.source]),
      [
        ["from-config", "config"],
        ["gh", "api"],
      ],
    );
    const res = await githubPost("from-config", JSON.stringify({ ref: "v2" }), GH_SECRET, "?wait=60s");
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as { output: unknown }).output, { ref: "v2" });
    const show = await kiln([...g, "webhooks", "show", "gh"]);
    assert.match(show.out, /scheme\s+github/);
    assert.equal((await kiln([...g, "webhooks", "delete", "gh"])).code, 0);
    const gone = await kiln([...g, "webhooks", "show", "gh"]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.err, /WEBHOOK_NOT_FOUND|No webhook/);
  });

  it("delivers run events to a subscriber that fails twice: 3 attempts logged, each signed", async () => {
    const sub = await kiln([
      ...g,
      "webhooks",
      "subscribe",
      receiverUrl,
      "--events",
      "run.completed,run.failed",
      "--workflow",
      "notify-me",
      "--json",
    ]);
    assert.equal(sub.code, 0, sub.err);
    const created = sub.json() as { subscription: { id: string }; secret: string };
    signingSecret = created.secret;
    assert.match(signingSecret, /^whsec_/);
    const started = await kiln([...g, "start", "notify-me", "-i", '{"ref":"r1"}', "--wait", "--json"]);
    assert.equal(started.code, 0, started.err);
    const run = started.json() as Run;
    const delivery = await eventually(async () => {
      const r = await kiln([...g, "webhooks", "deliveries", "--subscription", created.subscription.id, "--json"]);
      const [d] = (r.json() as { items: { id: string; status: string; attempts: number }[] }).items;
      return d?.status === "delivered" ? d : undefined;
    }, 60_000);
    assert.equal(delivery.attempts, 3);
    const detail = await kiln([...g, "webhooks", "deliveries", delivery.id, "--json"]);
    const log = (detail.json() as { attemptLog: { attempt: number; ok: boolean; responseCode: number }[] }).attemptLog;
    assert.deepEqual(
      log.map((a) => [a.attempt, a.ok, a.responseCode]),
      [
        [1, false, 500],
        [2, false, 500],
        [3, true, 200],
      ],
    );
    const mine = received.filter((r) => r.id === delivery.id);
    assert.equal(mine.length, 3);
    assert.ok(
      mine.every((r) => r.verified),
      "every attempt verifies with standardwebhooks",
    );
    const last = mine[2]?.body as { type: string; data: { runId: string; output: unknown } } | undefined;
    assert.equal(last?.type, "run.completed");
    assert.equal(last?.data.runId, run.id);
    assert.deepEqual(last?.data.output, { ref: "r1" });

    // Redeliver: the same message (webhook-id) once more.
    const again = await kiln([...g, "webhooks", "redeliver", delivery.id]);
    assert.equal(again.code, 0, again.err);
    await eventually(async () => (received.filter((r) => r.id === delivery.id).length === 4 ? true : undefined));
    const metrics = await fetch(`${dev.url}/metrics`);
    assert.match(await metrics.text(), /kiln_webhook_deliveries_total\{outcome="delivered"\} [1-9]/);
  });

  it("kiln start --callback-url reports that run's outcome through the same machinery", async () => {
    assert.ok(signingSecret, "runs after the subscription test, which made the key");
    const refused = await kiln([...g, "start", "on-push", "-i", "{}", "--callback-url", receiverUrl]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.err, /WEBHOOK_CALLBACK_SECRET/);
    assert.equal((await kiln([...g, "secrets", "set", "WEBHOOK_CALLBACK_SECRET", signingSecret])).code, 0);
    const started = await kiln([
      ...g,
      "start",
      "on-push",
      "-i",
      '{"ref":"cb"}',
      "--callback-url",
      `${receiverUrl}?run=cb`,
      "--json",
    ]);
    assert.equal(started.code, 0, started.err);
    const runId = (started.json() as Run).id;
    const ok = await eventually(async () =>
      received.find((r) => r.status === 200 && (r.body.data as { runId?: string }).runId === runId),
    );
    assert.equal(ok.verified, true);
    assert.equal(ok.body.type, "run.completed");
    // The attempt is recorded a moment after the receiver answered.
    const delivery = await eventually(async () => {
      const d = await kiln([...g, "webhooks", "deliveries", "--run", runId, "--json"]);
      const [item] = (d.json() as { items: { attempts: number; status: string }[] }).items;
      return item?.status === "delivered" ? item : undefined;
    });
    assert.equal(delivery.attempts, 3);
  });

  it("a flow's trigger.webhook makes its webhook when it is deployed", async () => {
    const file = join(dir, "triggered.yaml");
    writeFileSync(
      file,
      `trigger:
  webhook: { name: triggered-hook, secret_from: GH_SECRET, scheme: github, input: { who: "\${input.body.sender}" } }
nodes:
  hello:
    type: transform
    params: { script: "return { hello: input.who }" }
`,
    );
    const v = await kiln(["validate", file]);
    assert.equal(v.code, 0, v.out + v.err);
    const d = await kiln([...g, "deploy", "triggered", "-f", file]);
    assert.equal(d.code, 0, d.err);
    const res = await githubPost("triggered-hook", JSON.stringify({ sender: "octocat" }), GH_SECRET, "?wait=60s");
    const answer = (await res.json()) as { status: string; output: unknown };
    assert.equal(res.status, 200, JSON.stringify(answer));
    assert.deepEqual(answer.output, { hello: "octocat" });
    const show = await kiln([...g, "webhooks", "show", "triggered-hook", "--json"]);
    assert.equal((show.json() as { source: string; workflow: string }).source, "flow");
  });
});
