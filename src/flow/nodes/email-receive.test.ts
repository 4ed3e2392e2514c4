// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { ImapFlow } from "imapflow";
import MailComposer from "nodemailer/lib/mail-composer/index.js";
import type { Store } from "../../store/store.ts";
import { createFlowDeps, type OwnedFlowDeps } from "../run/flow-deps.ts";
import { storeStartRun } from "../run/flow-start-run.ts";
import { describeOnStores } from "../../../tests/support/flow-helpers.ts";
import { type ImapTestServer, startImapTestServer } from "../../../tests/support/service-servers.ts";

let deps: OwnedFlowDeps;
let imap: ImapTestServer;
let dir: string;
/** The store of the harness in use: the trigger form starts its runs there. */
let currentStore: Store | undefined;

/** Appends a message to a folder of the test mailbox (created when missing), as a mail server would deliver it. */
async function deliver(folder: string, mail: Record<string, unknown>): Promise<void> {
  const raw = await new MailComposer(mail).compile().build();
  const client = new ImapFlow({
    host: "127.0.0.1",
    port: imap.port,
    secure: false,
    auth: { user: imap.user, pass: imap.password },
    logger: false,
  });
  await client.connect();
  try {
    await client.mailboxCreate(folder).catch(() => undefined);
    await client.append(folder, raw);
  } finally {
    await client.logout();
  }
}

before(async () => {
  imap = await startImapTestServer();
  dir = mkdtempSync(join(tmpdir(), "kiln-receive-"));
  deps = await createFlowDeps({
    resolveSecret: (name) => ({ IMAP_PASSWORD: imap.password })[name],
    env: { IMAP_PORT: String(imap.port), STORE_DIR: dir },
    services: { startRun: (p) => storeStartRun(currentStore as Store)(p) },
  });
});
after(async () => {
  deps?.dispose();
  await imap?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

const IMAP = '{ host: 127.0.0.1, port: "${env.IMAP_PORT}", username: ada, password: "${secrets.IMAP_PASSWORD}" }';

describeOnStores(
  "email.receive (dovecot)",
  () => deps,
  ({ harness, dialect }) => {
    it("fetches unseen messages matching from/subject, attachments inline, and marks them seen", async () => {
      const folder = `${dialect}-a`;
      await deliver(folder, {
        from: "Grace <grace@example.test>",
        to: "ada@example.test",
        subject: "Invoice 7",
        text: "Please pay.",
        html: "<p>Please pay.</p>",
        attachments: [{ filename: "invoice.csv", content: "id,amount\n7,42\n", contentType: "text/csv" }],
      });
      await deliver(folder, { from: "spam@example.test", to: "ada@example.test", subject: "Win!", text: "..." });
      await deliver(folder, { from: "grace@example.test", to: "ada@example.test", subject: "Lunch?", text: "12:30" });
      const flow = `
nodes:
  inbox:
    type: email.receive
    params: { imap: ${IMAP}, folder: ${folder}, from: grace@example.test, subject: Invoice, since: 1d, mark_seen: true }
`;
      const h = harness("receive-a", { r: flow });
      const first = await h.start("r", {});
      await h.worker.drain();
      const run = await h.run(first);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      const out = run.output as {
        messages: {
          subject: string;
          from: string;
          text: string;
          html: string;
          attachments: { filename: string; content_base64: string; sha256: string }[];
        }[];
      };
      assert.deepEqual(
        out.messages.map((m) => m.subject),
        ["Invoice 7"],
      );
      const [invoice] = out.messages;
      assert.equal(invoice?.from, '"Grace" <grace@example.test>');
      assert.equal(invoice?.text.trim(), "Please pay.");
      assert.equal(invoice?.html, "<p>Please pay.</p>");
      assert.equal(invoice?.attachments[0]?.filename, "invoice.csv");
      assert.equal(
        Buffer.from(invoice?.attachments[0]?.content_base64 ?? "", "base64").toString(),
        "id,amount\n7,42\n",
      );
      assert.ok(!(await h.stored(first)).includes(imap.password), "the IMAP password is masked");

      // Marked seen: the same search finds nothing now, while the other messages stay unseen.
      const second = await h.start("r", {});
      await h.worker.drain();
      assert.deepEqual((await h.run(second)).output, { folder, messages: [] });
    });

    it("moves what it fetched and passes attachments by reference through a store", async () => {
      const folder = `${dialect}-b`;
      const pdf = Buffer.alloc(3000, 1);
      await deliver(folder, {
        from: "grace@example.test",
        to: "ada@example.test",
        subject: "Scan",
        text: "attached",
        attachments: [{ filename: "scan.pdf", content: pdf, contentType: "application/pdf" }],
      });
      await deliver(`${dialect}-archive`, {
        from: "x@example.test",
        to: "ada@example.test",
        subject: "seed",
        text: ".",
      });
      const flow = `
nodes:
  inbox:
    type: email.receive
    params: { imap: ${IMAP}, folder: ${folder}, move_to: ${dialect}-archive, store: { dir: "\${env.STORE_DIR}" } }
    next: read
  read:
    type: storage.get
    params: { store: { dir: "\${env.STORE_DIR}" }, ref: "\${input.messages[0].attachments[0].ref}", as: base64 }
  `;
      const h = harness("receive-b", { r: flow });
      const id = await h.start("r", {});
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      assert.equal((run.output as { value: string }).value, pdf.toString("base64"));
      const inbox = (await h.steps(id)).find((s) => s.name === "inbox")?.output as {
        output: { messages: { attachments: Record<string, unknown>[] }[] };
      };
      const attachment = inbox.output.messages[0]?.attachments[0] ?? {};
      assert.equal("content_base64" in attachment, false, "stored by reference, not inline");
      assert.equal((attachment.ref as { size: number }).size, 3000);

      const archived = await h.start("r", {});
      await h.worker.drain();
      const again = await h.run(archived);
      assert.equal(again.status, "failed", "the folder is empty now: nothing to read");
      const look = `
nodes:
  inbox: { type: email.receive, params: { imap: ${IMAP}, folder: ${dialect}-archive, subject: Scan } }
`;
      const h2 = harness("receive-b2", { look });
      const lookId = await h2.start("look", {});
      await h2.worker.drain();
      const moved = (await h2.run(lookId)).output as { messages: { subject: string }[] };
      assert.deepEqual(
        moved.messages.map((m) => m.subject),
        ["Scan"],
      );
    });

    it("trigger form: one run per message, and a poll that sees them again (crash before marking) starts none", async () => {
      const folder = `${dialect}-c`;
      for (const n of [1, 2]) {
        await deliver(folder, {
          from: "grace@example.test",
          to: "ada@example.test",
          subject: `Order ${n}`,
          text: `#${n}`,
          messageId: `<order-${n}-${dialect}@example.test>`,
        });
      }
      const poll = `
trigger: { schedule: "@every 1m" }
nodes:
  poll:
    type: email.receive
    params: { imap: ${IMAP}, folder: ${folder}, start: { workflow: handle } }
`;
      const handle = `
nodes:
  ack: { type: transform, params: { script: "return { handled: input.subject, id: input.message_id }" } }
`;
      const h = harness("receive-c", { poll, handle });
      currentStore = h.store;
      // No mark_seen: every poll sees both messages again, as after a crash between start and mark.
      const outputs: { started: { run_id: string; created: boolean }[] }[] = [];
      for (let i = 0; i < 2; i++) {
        const id = await h.start("poll", {});
        await h.worker.drain();
        const run = await h.run(id);
        assert.equal(run.status, "completed", JSON.stringify(run.error));
        outputs.push(run.output as (typeof outputs)[number]);
      }
      assert.deepEqual(
        outputs[0]?.started.map((s) => s.created),
        [true, true],
      );
      assert.deepEqual(
        outputs[1]?.started.map((s) => s.created),
        [false, false],
      );
      assert.deepEqual(
        outputs[1]?.started.map((s) => s.run_id),
        outputs[0]?.started.map((s) => s.run_id),
      );
      const handled = await Promise.all((outputs[0]?.started ?? []).map(async (s) => (await h.run(s.run_id)).output));
      assert.deepEqual(handled, [
        { handled: "Order 1", id: `<order-1-${dialect}@example.test>` },
        { handled: "Order 2", id: `<order-2-${dialect}@example.test>` },
      ]);
    });

    it("a refused login fails with EMAIL_RECEIVE_FAILED, not retried", async () => {
      const flow = `
nodes:
  inbox:
    type: email.receive
    params: { imap: { host: 127.0.0.1, port: "\${env.IMAP_PORT}", username: ada, password: wrong } }
    retry: { max_attempts: 3 }
`;
      const h = harness("receive-d", { r: flow });
      const id = await h.start("r", {});
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "failed");
      assert.equal(run.error?.code, "EMAIL_RECEIVE_FAILED");
    });
  },
);
