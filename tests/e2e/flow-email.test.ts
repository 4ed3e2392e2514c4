// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
/**
 * Email nodes through the CLI against a real `kiln dev`, with real local mail servers:
 * email.send to nodemailer's smtp-server (AUTH with a Kiln secret, attachments inline and by
 * storage reference), and email.receive's trigger form polling a throwaway dovecot from a
 * flow's `trigger.schedule`: however many polls see a message, it starts exactly one run.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ImapFlow } from "imapflow";
import MailComposer from "nodemailer/lib/mail-composer/index.js";
import {
  type ImapTestServer,
  type SmtpTestServer,
  startImapTestServer,
  startSmtpTestServer,
} from "../support/service-servers.ts";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const SEND = `metadata: { name: mail-report }
nodes:
  save:
    type: storage.put
    params: { store: { dir: "\${env.FILES_DIR}" }, key: "reports/\${input.id}.csv", value: "\${input.csv}", content_type: text/csv }
    next: mail
  mail:
    type: email.send
    params:
      from: reports@example.test
      to: "\${flow.input.to}"
      subject: "Report \${flow.input.id}"
      text: "Rows: \${flow.input.rows}"
      html: "<h1>Report \${flow.input.id}</h1>"
      smtp: { host: 127.0.0.1, port: "\${env.SMTP_PORT}", username: kiln, password: "\${secrets.SMTP_PASSWORD}" }
      attachments:
        - { filename: note.txt, content: "rows=\${flow.input.rows}" }
        - { filename: report.csv, ref: "\${nodes.save.output}", store: { dir: "\${env.FILES_DIR}" } }
`;

const POLL = `metadata: { name: inbox-poll }
trigger: { schedule: "@every 1s" }
nodes:
  poll:
    type: email.receive
    params:
      imap: { host: 127.0.0.1, port: "\${env.IMAP_PORT}", username: ada, password: "\${secrets.IMAP_PASSWORD}" }
      folder: orders
      start: { workflow: inbox-handle }
`;

const HANDLE = `metadata: { name: inbox-handle }
nodes:
  ack: { type: transform, params: { script: "return { subject: input.subject, message_id: input.message_id }" } }
`;

describe("email nodes through the CLI against kiln dev", { timeout: 240_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let smtp: SmtpTestServer;
  let imap: ImapTestServer;
  let g: string[];

  before(async () => {
    smtp = await startSmtpTestServer({ starttls: false });
    imap = await startImapTestServer();
    dir = mkdtempSync(join(tmpdir(), "kiln-flow-email-"));
    writeFileSync(
      join(dir, "kiln.yaml"),
      `worker:\n  env:\n    SMTP_PORT: "${smtp.port}"\n    IMAP_PORT: "${imap.port}"\n    FILES_DIR: "${join(dir, "files")}"\n`,
    );
    writeFileSync(join(dir, "mail-report.yaml"), SEND);
    writeFileSync(join(dir, "inbox-poll.yaml"), POLL);
    writeFileSync(join(dir, "inbox-handle.yaml"), HANDLE);
    dev = await startKiln(["dev", "--port", "0"], dir);
    g = ["--server", dev.url, "--data", join(dir, ".kiln")];
    for (const [name, value] of [
      ["SMTP_PASSWORD", "mail-pass-123"],
      ["IMAP_PASSWORD", imap.password],
    ]) {
      const set = await kiln([...g, "secrets", "set", name as string, value as string]);
      assert.equal(set.code, 0, set.err);
    }
  });

  after(async () => {
    await dev?.stop();
    await smtp?.close();
    await imap?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("email.send: a report stored by reference and an inline note reach the SMTP server; the password never shows", async () => {
    const deployed = await kiln([...g, "deploy", "mail-report", "-f", join(dir, "mail-report.yaml")]);
    assert.equal(deployed.code, 0, deployed.err);
    const input = JSON.stringify({ id: "r7", to: "Ada <ada@example.test>", rows: 2, csv: "item,qty\nwidgets,3\n" });
    const r = await kiln([...g, "start", "mail-report", "-i", input, "--wait", "--json"]);
    assert.equal(r.code, 0, `${r.out}${r.err}`);
    const run = r.json() as { id: string; status: string; output: { accepted: string[] } };
    assert.equal(run.status, "completed");
    assert.deepEqual(run.output.accepted, ["ada@example.test"]);
    const message = smtp.messages.at(-1);
    assert.ok(message);
    assert.equal(message.user, "kiln");
    assert.equal(message.parsed.subject, "Report r7");
    assert.equal(message.parsed.html, "<h1>Report r7</h1>");
    assert.deepEqual(
      message.parsed.attachments.map((a) => [a.filename, a.content.toString("utf8")]),
      [
        ["note.txt", "rows=2"],
        ["report.csv", "item,qty\nwidgets,3\n"],
      ],
    );
    const status = await kiln([...g, "status", run.id, "--json"]);
    const logs = await kiln([...g, "logs", run.id]);
    assert.ok(!`${status.out}${logs.out}${dev.output()}`.includes("mail-pass-123"));
  });

  it("email.receive trigger form: scheduled polls start one run per message, never two", async () => {
    const client = new ImapFlow({
      host: "127.0.0.1",
      port: imap.port,
      secure: false,
      auth: { user: imap.user, pass: imap.password },
      logger: false,
    });
    await client.connect();
    await client.mailboxCreate("orders");
    for (const n of [1, 2]) {
      const raw = await new MailComposer({
        from: "grace@example.test",
        to: "orders@example.test",
        subject: `Order ${n}`,
        text: `order #${n}`,
        messageId: `<order-${n}@example.test>`,
      })
        .compile()
        .build();
      await client.append("orders", raw);
    }
    await client.logout();
    for (const name of ["inbox-handle", "inbox-poll"]) {
      const deployed = await kiln([...g, "deploy", name, "-f", join(dir, `${name}.yaml`)]);
      assert.equal(deployed.code, 0, deployed.err);
    }
    // The poll never marks messages seen, so every fire finds both again: only the keys dedupe.
    await eventually(async () => {
      const polls = await kiln([...g, "list", "runs", "-w", "inbox-poll", "-s", "completed", "--json"]);
      return (polls.json() as { items: unknown[] }).items.length >= 3 ? true : undefined;
    }, 60_000);
    const handled = await eventually(async () => {
      const runs = await kiln([...g, "list", "runs", "-w", "inbox-handle", "-s", "completed", "--json", "-n", "50"]);
      const list = (runs.json() as { items: { output: { subject: string } }[] }).items;
      return list.length >= 2 ? list : undefined;
    });
    const all = await kiln([...g, "list", "runs", "-w", "inbox-handle", "--json", "-n", "50"]);
    assert.equal((all.json() as { items: unknown[] }).items.length, 2, all.out);
    assert.deepEqual(handled.map((r) => r.output?.subject).sort(), ["Order 1", "Order 2"]);
  });
});
