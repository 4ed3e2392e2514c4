/**
 * Every example under examples/ runs unchanged, the way its own comments say (issue 10.5): the
 * flows through the CLI against `kiln dev --config examples/flows` with its services pointed at a
 * local stand-in, and the embedded program with `npm run example`.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type ModelStub, startModelStub } from "../support/model-stub.ts";
import { ImapFlow } from "imapflow";
import MailComposer from "nodemailer/lib/mail-composer/index.js";
import {
  type ImapTestServer,
  type S3TestServer,
  type SmtpTestServer,
  startImapTestServer,
  startS3TestServer,
  startSmtpTestServer,
} from "../support/service-servers.ts";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const FLOWS = join(ROOT, "examples", "flows");
/** The examples that call model providers, run in this order (the rag-* ones share a collection). */
const MODEL_EXAMPLES = ["llm-summary.yaml", "price-agent.yaml", "rag-index.yaml", "rag-search.yaml", "rag-answer.yaml"];

/** The `kiln …` commands an example's header comment gives, in order, with its quoted arguments. */
function commandsOf(file: string): string[][] {
  const header = readFileSync(join(FLOWS, file), "utf8").match(/^(#.*\n)+/)?.[0] ?? "";
  const text = header.replace(/^# ?/gm, "").replace(/\n/g, " ");
  return [...text.matchAll(/`kiln ([^`]+)`/g)].map((m) =>
    [...(m[1] as string).matchAll(/'([^']*)'|(\S+)/g)].map((a) => (a[1] ?? a[2]) as string),
  );
}

describe("examples/ run as their comments say", { timeout: 240_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let api: Server;
  let models: ModelStub;
  let smtp: SmtpTestServer;
  let imap: ImapTestServer;
  let s3: S3TestServer;
  const calls: string[] = [];
  const g = () => ["--server", dev.url, "--data", join(dir, ".kiln")];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-examples-"));
    api = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        calls.push(`${req.method} ${req.url} ${body}`);
        const url = req.url ?? "/";
        const reply = (status: number, value: unknown) => {
          res.writeHead(status, { "content-type": "application/json" });
          res.end(JSON.stringify(value));
        };
        if (url.startsWith("/payments/charges")) return reply(201, { id: `ch_${calls.length}` });
        if (url.startsWith("/items/")) return reply(200, { id: url.slice(7), price: 10 });
        if (url.startsWith("/catalog")) return reply(200, { name: "catalog", currency: "EUR" });
        reply(200, { ok: true });
      });
    });
    await new Promise<void>((r) => api.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(api.address() as { port: number }).port}`;
    models = await startModelStub();
    // The stand-in model calls the first tool offered once, cites the first source it is given, or echoes.
    models.respond = (ask) => {
      if (ask.tools.length > 0 && ask.toolResults.length === 0) {
        return { toolCalls: [{ name: ask.tools[0] as string, arguments: { id: "a" } }] };
      }
      if (ask.toolResults.length > 0) return { text: `From the catalogue: ${ask.toolResults.join(" ")}` };
      const source = /^\[([^\]]+)\]/m.exec(ask.prompt)?.[1];
      return { text: source === undefined ? `echo: ${ask.prompt}` : `Steps are recorded durably [${source}].` };
    };
    // The mail and storage examples' services: real local servers (tests/support/service-servers.ts).
    smtp = await startSmtpTestServer({ starttls: false });
    imap = await startImapTestServer({ user: "orders" });
    s3 = await startS3TestServer("kiln-examples");
    // The config's own `${APPROVALS_URL:-…}` defaults are overridden the way its comment says.
    dev = await startKiln(["dev", "--port", "0", "--config", FLOWS], dir, {
      APPROVALS_URL: `${base}/approvals`,
      PAYMENTS_URL: `${base}/payments`,
      ORDERS_URL: `${base}/orders`,
      API_URL: base,
      ANTHROPIC_URL: models.url,
      OPENAI_URL: `${models.url}/v1`,
      SMTP_PORT: String(smtp.port),
      IMAP_PORT: String(imap.port),
      FILES_DIR: join(dir, "files"),
      S3_URL: s3.endpoint,
    });
    for (const [name, value] of [
      ["PAYMENTS_TOKEN", "pay-token"],
      ["SMTP_PASSWORD", "mail-pass-123"],
      ["IMAP_PASSWORD", imap.password],
      ["S3_KEY", s3.accessKeyId],
      ["S3_SECRET", s3.secretAccessKey],
      ["ANTHROPIC_API_KEY", "key-ANTHROPIC_API_KEY"],
      ["OPENAI_API_KEY", "key-OPENAI_API_KEY"],
    ] as const) {
      const secret = await kiln([...g(), "secrets", "set", name, value]);
      assert.equal(secret.code, 0, secret.err);
    }
  });

  after(async () => {
    await dev?.stop();
    await new Promise((r) => api?.close(r));
    await models?.close();
    await smtp?.close();
    await imap?.close();
    await s3?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("order-approval: its deploy and start commands charge a small order; a large one waits for approval", async () => {
    const commands = commandsOf("order-approval.yaml");
    assert.deepEqual(
      commands.map((c) => c[0]),
      ["deploy", "start"],
    );
    for (const c of commands) {
      const args = c[0] === "deploy" ? c.map((a) => (a.endsWith(".yaml") ? join(FLOWS, a) : a)) : [...c, "--wait"];
      const r = await kiln([...g(), ...args]);
      assert.equal(r.code, 0, `kiln ${c.join(" ")}\n${r.out}${r.err}`);
      if (c[0] === "start") assert.match(r.out, /completed/);
    }
    assert.ok(calls.some((c) => c.startsWith("POST /payments/charges")));
    assert.ok(calls.some((c) => c.startsWith("PUT /orders/orders/o-1")));

    const big = await kiln([
      ...g(),
      "start",
      "order-approval",
      "-i",
      '{"order_id":"o-2","amount":5000,"email":"ada@example.com"}',
    ]);
    const id = big.out.trim();
    await eventually(async () => {
      const s = (await kiln([...g(), "status", id, "--json"])).json() as { status: string };
      return s.status === "waiting" ? true : undefined;
    });
    assert.ok(calls.some((c) => c.startsWith("POST /approvals/requests")));
    const sent = await kiln([...g(), "events", "send", "order.approved", "--key", "o-2", "-d", '{"approved":true}']);
    assert.equal(sent.code, 0, sent.err);
    const done = await eventually(async () => {
      const s = (await kiln([...g(), "status", id, "--json"])).json() as { status: string; output: unknown };
      return s.status === "completed" ? s : undefined;
    });
    assert.equal((done.output as { status: string }).status, "charged");
  });

  it("every other example flow deploys from the directory and runs with its plugins", async () => {
    const inputs: Record<string, string> = {
      "http-fanout.yaml": '{"ids":["a","b","c"]}',
      "publish-post.yaml": '{"title":"Hello Kiln","body":"Durable scripts"}',
      "inbox-handle.yaml": '{"uid":0,"from":"a@example.com","subject":"by hand","message_id":"<hand@example.com>"}',
      "inbox-poll.yaml": "{}",
      "send-report.yaml": '{"to":"ada@example.com","month":"2024-05","csv":"item,qty\\nwidgets,3\\n"}',
      "storage-archive.yaml": '{"id":"doc-1","body":"hello"}',
    };
    // A message waiting in the mailbox inbox-poll reads.
    const client = new ImapFlow({
      host: "127.0.0.1",
      port: imap.port,
      secure: false,
      auth: { user: imap.user, pass: imap.password },
      logger: false,
    });
    await client.connect();
    const raw = await new MailComposer({
      from: "grace@example.com",
      to: "orders@example.com",
      subject: "Order 1",
      text: "2 widgets",
    })
      .compile()
      .build();
    await client.append("INBOX", raw);
    await client.logout();
    const files = readdirSync(FLOWS).filter(
      (f) => f.endsWith(".yaml") && f !== "kiln.yaml" && f !== "order-approval.yaml" && !MODEL_EXAMPLES.includes(f),
    );
    assert.deepEqual(files.sort(), Object.keys(inputs).sort(), "a new example needs its input here");
    const outputs: Record<string, unknown> = {};
    for (const file of files) {
      const name = file.replace(/\.yaml$/, "");
      // From the examples' config, as from that directory: its plugins add the node types.
      const deployed = await kiln([...g(), "--config", FLOWS, "deploy", name, "-f", join(FLOWS, file)]);
      assert.equal(deployed.code, 0, deployed.err);
      const r = await kiln([...g(), "start", name, "-i", inputs[file] as string, "--wait", "--json"]);
      assert.equal(r.code, 0, `${file}\n${r.out}${r.err}`);
      assert.equal((r.json() as { status: string }).status, "completed");
      outputs[file] = (r.json() as { output: unknown }).output;
    }
    const report = smtp.messages.find((m) => m.parsed.subject === "Report for 2024-05");
    assert.equal(report?.parsed.attachments[0]?.content.toString("utf8"), "item,qty\nwidgets,3\n");
    const polled = outputs["inbox-poll.yaml"] as { started: { run_id: string }[] };
    assert.equal(polled.started.length, 1, JSON.stringify(polled));
    assert.equal((outputs["storage-archive.yaml"] as { deleted: boolean }).deleted, true);
  });

  it("the model examples run their commands in order against a stand-in model provider", async () => {
    const outputs: Record<string, Record<string, unknown>> = {};
    for (const file of MODEL_EXAMPLES) {
      const commands = commandsOf(file);
      assert.deepEqual(
        commands.map((c) => c[0]),
        ["deploy", "start"],
        file,
      );
      for (const c of commands) {
        const args =
          c[0] === "deploy" ? c.map((a) => (a.endsWith(".yaml") ? join(FLOWS, a) : a)) : [...c, "--wait", "--json"];
        const r = await kiln([...g(), "--config", FLOWS, ...args]);
        assert.equal(r.code, 0, `${file}: kiln ${c.join(" ")}\n${r.out}${r.err}`);
        if (c[0] === "start") {
          const run = r.json() as { status: string; output: Record<string, unknown> };
          assert.equal(run.status, "completed", `${file}: ${r.out}`);
          outputs[file] = run.output;
        }
      }
    }
    assert.match(String(outputs["llm-summary.yaml"]?.text), /^echo: Summarize in one line: Kiln runs/);
    assert.ok(((outputs["llm-summary.yaml"]?.usage as { total_tokens: number } | undefined)?.total_tokens ?? 0) > 0);
    assert.match(String(outputs["price-agent.yaml"]?.text), /From the catalogue: .*"price":10/);
    assert.equal(outputs["rag-index.yaml"]?.upserted, 2);
    assert.equal((outputs["rag-search.yaml"]?.matches as { id: string }[] | undefined)?.[0]?.id, "steps");
    assert.deepEqual(outputs["rag-answer.yaml"]?.citations, ["steps"]);
    const keys = models.requests.map((r) => r.headers.authorization ?? r.headers["x-api-key"]);
    assert.ok(
      keys.every(
        (k) =>
          k === "Bearer key-OPENAI_API_KEY" || k === "Bearer key-ANTHROPIC_API_KEY" || k === "key-ANTHROPIC_API_KEY",
      ),
      keys.join(", "),
    );
  });

  it("npm run example: the embedded program runs its workflows to the end", async () => {
    const child = spawn("npm", ["run", "--silent", "example"], {
      cwd: ROOT,
      env: { ...process.env, KILN_DB: join(dir, "example.db") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c) => {
      out += c;
    });
    child.stderr.on("data", (c) => {
      out += c;
    });
    const code = await new Promise<number | null>((r) => child.once("exit", r));
    assert.equal(code, 0, out);
    assert.match(out, /Hello, Ada!/);
  });
});
