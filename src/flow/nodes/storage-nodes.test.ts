// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { createFlowDeps, type OwnedFlowDeps } from "../run/flow-deps.ts";
import { describeOnStores } from "../../../tests/support/flow-helpers.ts";
import { type S3TestServer, startS3TestServer } from "../../../tests/support/service-servers.ts";

let deps: OwnedFlowDeps;
let s3: S3TestServer;
let dir: string;

before(async () => {
  s3 = await startS3TestServer();
  dir = mkdtempSync(join(tmpdir(), "kiln-storage-"));
  deps = await createFlowDeps({
    resolveSecret: (name) => ({ S3_KEY: s3.accessKeyId, S3_SECRET: s3.secretAccessKey })[name],
    env: { STORE_DIR: dir, S3_URL: s3.endpoint, BUCKET: s3.bucket },
  });
});
after(async () => {
  deps.dispose();
  await s3.close();
  rmSync(dir, { recursive: true, force: true });
});

const LOCAL = '{ dir: "${env.STORE_DIR}" }';
const S3 =
  '{ bucket: "${env.BUCKET}", endpoint: "${env.S3_URL}", access_key_id: "${secrets.S3_KEY}", secret_access_key: "${secrets.S3_SECRET}" }';

/** put → get by reference → list → delete → list, over one store. */
const roundTrip = (store: string) => `
nodes:
  put:
    type: storage.put
    params: { store: ${store}, key: "reports/\${input.id}.json", value: "\${input.report}" }
    next: get
  get:
    type: storage.get
    params: { store: ${store}, ref: "\${nodes.put.output}" }
    next: list
  list:
    type: storage.list
    params: { store: ${store}, prefix: "reports/" }
    next: delete
  delete:
    type: storage.delete
    params: { store: ${store}, ref: "\${nodes.put.output}" }
    next: again
  again:
    type: storage.delete
    params: { store: ${store}, key: "reports/\${flow.input.id}.json" }
`;

describeOnStores(
  "storage nodes",
  () => deps,
  ({ harness, dialect }) => {
    for (const [name, store] of [
      ["a local directory", LOCAL],
      ["an S3-compatible server (s3rver)", S3],
    ] as const) {
      it(`put, get by reference, list and delete over ${name}`, async () => {
        const h = harness(`storage-${name.length}`, { trip: roundTrip(store) });
        const report = { rows: [1, 2, 3], title: "Q3" };
        const id = await h.start("trip", { id: `${dialect}-r1`, report });
        await h.worker.drain();
        const run = await h.run(id);
        assert.equal(run.status, "completed", JSON.stringify(run.error));
        const steps = Object.fromEntries((await h.steps(id)).map((s) => [s.name, s.output]));
        const put = (steps.put as { output: Record<string, unknown> }).output;
        const bytes = Buffer.from(JSON.stringify(report));
        assert.equal(put.key, `reports/${dialect}-r1.json`);
        assert.equal(put.size, bytes.length);
        assert.match(String(put.sha256), /^[0-9a-f]{64}$/);
        assert.equal(put.content_type, "application/json");
        assert.equal("value" in put, false, "the reference, not the value, is recorded");
        assert.deepEqual((steps.get as { output: { value: unknown } }).output.value, report);
        const items = (steps.list as { output: { items: { key: string; size: number }[] } }).output.items;
        assert.ok(items.some((i) => i.key === `reports/${dialect}-r1.json` && i.size === bytes.length));
        assert.deepEqual((steps.delete as { output: unknown }).output, {
          key: `reports/${dialect}-r1.json`,
          deleted: true,
        });
        assert.deepEqual((steps.again as { output: unknown }).output, {
          key: `reports/${dialect}-r1.json`,
          deleted: false,
        });
        assert.ok(!(await h.stored(id)).includes("S3RVER"), "credentials are masked in run history");
      });
    }

    it("an object changed after it was referenced fails the reader with STORAGE_INTEGRITY_FAILED", async () => {
      const h = harness("storage-tamper", {
        put: `nodes:\n  put: { type: storage.put, params: { store: ${LOCAL}, key: "tamper/${dialect}.txt", value: "original" } }`,
        get: `nodes:\n  get: { type: storage.get, params: { store: ${LOCAL}, ref: "\${input.ref}" } }`,
      });
      const putId = await h.start("put", {});
      await h.worker.drain();
      const ref = (await h.run(putId)).output;
      const intact = await h.start("get", { ref });
      await h.worker.drain();
      assert.equal((await h.run(intact)).status, "completed");
      writeFileSync(join(dir, "tamper", `${dialect}.txt`), "changed!");
      const tampered = await h.start("get", { ref });
      await h.worker.drain();
      const failed = await h.run(tampered);
      assert.equal(failed.status, "failed");
      assert.equal(failed.error?.code, "STORAGE_INTEGRITY_FAILED");
    });

    it("keys that would leave the directory are refused, and nothing is written", async () => {
      const flow = `
nodes:
  put: { type: storage.put, params: { store: ${LOCAL}, key: "\${input.key}", value: "x" } }
`;
      const h = harness("storage-escape", { p: flow });
      for (const key of ["../outside.txt", "/etc/passwd-copy", "a/../../b"]) {
        const id = await h.start("p", { key });
        await h.worker.drain();
        const run = await h.run(id);
        assert.equal(run.status, "failed", key);
        assert.equal(run.error?.code, "INVALID_INPUT", key);
      }
      assert.equal(existsSync(join(dir, "..", "outside.txt")), false);
    });

    it("storage.get refuses a value over max_bytes and as: ref passes it on by reference", async () => {
      const flow = `
nodes:
  put: { type: storage.put, params: { store: ${S3}, key: "big/${dialect}.bin", value: "\${input.data}", encoding: base64 }, next: [ref, get] }
  ref: { type: storage.get, params: { store: ${S3}, ref: "\${nodes.put.output}", as: ref } }
  get: { type: storage.get, params: { store: ${S3}, key: "big/${dialect}.bin", max_bytes: 1000 } }
`;
      const h = harness("storage-big", { b: flow });
      const data = Buffer.alloc(5000, 7).toString("base64");
      const id = await h.start("b", { data });
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "failed");
      assert.equal(run.error?.code, "INVALID_INPUT");
      assert.match(run.error?.message ?? "", /over max_bytes 1000; raise max_bytes or pass it on with as: ref/);
      const ref = (await h.steps(id)).find((s) => s.name === "ref")?.output as { output: Record<string, unknown> };
      assert.equal(ref.output.size, 5000);
      assert.equal("value" in ref.output, false);
      const onDisk = readdirSync(s3.directory, { recursive: true }).map(String);
      assert.ok(
        onDisk.some((f) => f.includes(`big/${dialect}.bin`)),
        "the object is in s3rver's directory",
      );
    });
  },
);
