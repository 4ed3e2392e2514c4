// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { createFlowDeps, type OwnedFlowDeps } from "../run/flow-deps.ts";
import { describeOnStores } from "../../../tests/support/flow-helpers.ts";
import { validateFlow } from "../definition/validate-flow.ts";
import { type SmtpTestServer, startSmtpTestServer } from "../../../tests/support/service-servers.ts";

let deps: OwnedFlowDeps;
let plain: SmtpTestServer;
let implicitTls: SmtpTestServer;
let dir: string;

before(async () => {
  plain = await startSmtpTestServer();
  implicitTls = await startSmtpTestServer({ secure: true });
  dir = mkdtempSync(join(tmpdir(), "kiln-email-"));
  deps = await createFlowDeps({
    resolveSecret: (name) => ({ SMTP_PASSWORD: "mail-pass-123" })[name],
    env: { STORE_DIR: dir, TLS_PORT: String(implicitTls.port) },
    // The test servers present smtp-server's self-signed certificate.
    services: { email: { host: "127.0.0.1", port: plain.port, from: "kiln@example.test", rejectUnauthorized: false } },
  });
});
after(async () => {
  deps.dispose();
  await plain.close();
  await implicitTls.close();
  rmSync(dir, { recursive: true, force: true });
});

describeOnStores(
  "email.send",
  () => deps,
  ({ harness, dialect }) => {
    it("sends text + HTML with cc, bcc, reply-to and templates over STARTTLS with AUTH (password masked)", async () => {
      const flow = `
nodes:
  mail:
    type: email.send
    params:
      to: ["Ada <ada@example.test>", "ghost@nowhere.test"]
      cc: bob@example.test
      bcc: [audit@example.test]
      reply_to: support@example.test
      subject: "Order \${input.order} — shipped"
      text: "Hi! Your order \${input.order} is on its way."
      html: "<p>Order <b>\${input.order}</b> is on its way.</p>"
      smtp: { starttls: always, username: kiln, password: "\${secrets.SMTP_PASSWORD}" }
`;
      const h = harness("email-text", { mail: flow });
      const before = plain.messages.length;
      const id = await h.start("mail", { order: `${dialect}-9` });
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      const output = run.output as { accepted: string[]; rejected: string[]; message_id: string };
      assert.deepEqual(output.accepted.sort(), ["ada@example.test", "audit@example.test", "bob@example.test"]);
      assert.deepEqual(output.rejected, ["ghost@nowhere.test"]);
      const message = plain.messages[before];
      assert.ok(message);
      assert.equal(message.secure, true, "upgraded with STARTTLS");
      assert.equal(message.user, "kiln");
      assert.equal(message.from, "kiln@example.test");
      assert.ok(message.to.includes("audit@example.test"), "bcc is a recipient");
      assert.doesNotMatch(message.raw, /audit@example\.test/, "bcc is not a header");
      assert.equal(message.parsed.subject, `Order ${dialect}-9 — shipped`);
      assert.equal(message.parsed.text?.trim(), `Hi! Your order ${dialect}-9 is on its way.`);
      assert.equal(message.parsed.html, `<p>Order <b>${dialect}-9</b> is on its way.</p>`);
      assert.equal(message.parsed.replyTo?.text, "support@example.test");
      assert.equal(message.parsed.messageId, output.message_id);
      assert.ok(!(await h.stored(id)).includes("mail-pass-123"));
    });

    it("attaches a previous node's output and a stored object read by reference, over implicit TLS", async () => {
      const flow = `
nodes:
  report:
    type: transform
    params: { script: "return { csv: 'id,total\\\\n1,42\\\\n' }" }
    next: save
  save:
    type: storage.put
    params: { store: { dir: "\${env.STORE_DIR}" }, key: "logo-${dialect}.png", value: "\${flow.input.logo}", encoding: base64, content_type: image/png }
    next: mail
  mail:
    type: email.send
    params:
      to: ada@example.test
      subject: Report
      text: See attached.
      smtp: { port: "\${env.TLS_PORT}", secure: true }
      attachments:
        - { filename: report.csv, content: "\${nodes.report.output.csv}", content_type: text/csv }
        - { filename: logo.png, ref: "\${nodes.save.output}", store: { dir: "\${env.STORE_DIR}" } }
`;
      const h = harness("email-attach", { mail: flow });
      const logo = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 255]);
      const before = implicitTls.messages.length;
      const id = await h.start("mail", { logo: logo.toString("base64") });
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      const message = implicitTls.messages[before];
      assert.ok(message);
      assert.equal(message.secure, true);
      const [csv, png] = message.parsed.attachments;
      assert.equal(csv?.filename, "report.csv");
      assert.equal(csv?.content.toString("utf8"), "id,total\n1,42\n");
      assert.equal(png?.filename, "logo.png");
      assert.equal(png?.contentType, "image/png");
      assert.deepEqual(png?.content, logo);
      assert.deepEqual((run.output as { attachments: unknown }).attachments, [
        { filename: "report.csv", size: 14 },
        { filename: "logo.png", size: logo.length },
      ]);
    });

    it("a refused login fails at once with EMAIL_SEND_FAILED (not retried)", async () => {
      const flow = `
nodes:
  mail:
    type: email.send
    params: { to: ada@example.test, subject: Hi, text: Hi, smtp: { username: kiln, password: wrong } }
    retry: { max_attempts: 3 }
`;
      const h = harness("email-auth", { mail: flow });
      const id = await h.start("mail", {});
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "failed");
      assert.equal(run.error?.code, "EMAIL_SEND_FAILED");
      assert.equal(run.attempt, 1, "a permanent refusal is not retried");
    });

    it("validation names unknown keys inside smtp and attachments", async () => {
      const problems = validateFlow(
        `
nodes:
  mail:
    type: email.send
    params: { to: a@b.c, subject: s, smtp: { hots: x }, attachments: [{ filename: a, contnet: b }] }
`,
        { code: deps.sandbox, nodeTypes: deps.nodeTypes },
      );
      const text = JSON.stringify(problems);
      assert.match(text, /Unknown param \\"hots\\" of email.send smtp/);
      assert.match(text, /Unknown param \\"contnet\\" of email.send attachment/);
    });
  },
);
