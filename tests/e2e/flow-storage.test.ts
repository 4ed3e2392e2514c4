// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
/**
 * Storage nodes through the CLI against a real `kiln dev`: a flow writes to s3rver (a real S3 API
 * over a directory, credentials from Kiln secrets) and to a local directory, reads back by
 * reference, lists and deletes; run history holds the references (key, size, sha256), not the
 * values, and no credential.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type S3TestServer, startS3TestServer } from "../support/service-servers.ts";
import { type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const S3 =
  '{ bucket: "${env.S3_BUCKET}", endpoint: "${env.S3_URL}", access_key_id: "${secrets.S3_KEY}", secret_access_key: "${secrets.S3_SECRET}" }';
const LOCAL = '{ dir: "${env.FILES_DIR}" }';

const FLOW = `metadata: { name: archive }
nodes:
  to_s3:
    type: storage.put
    params: { store: ${S3}, key: "big/\${input.id}.txt", value: "\${input.text}" }
    next: to_disk
  to_disk:
    type: storage.put
    params: { store: ${LOCAL}, key: "small/\${flow.input.id}.json", value: { id: "\${flow.input.id}", s3: "\${nodes.to_s3.output}" } }
    next: check
  check:
    type: storage.get
    params: { store: ${S3}, ref: "\${nodes.to_s3.output}", as: ref }
    next: back
  back:
    type: storage.get
    params: { store: ${LOCAL}, ref: "\${nodes.to_disk.output}" }
    next: list
  list:
    type: storage.list
    params: { store: ${S3}, prefix: big/ }
    next: drop
  drop:
    type: storage.delete
    params: { store: ${LOCAL}, ref: "\${nodes.to_disk.output}" }
`;

describe("storage nodes through the CLI against kiln dev", { timeout: 180_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let s3: S3TestServer;
  let g: string[];

  before(async () => {
    s3 = await startS3TestServer("archive");
    dir = mkdtempSync(join(tmpdir(), "kiln-flow-storage-"));
    writeFileSync(
      join(dir, "kiln.yaml"),
      `worker:\n  env:\n    S3_URL: "${s3.endpoint}"\n    S3_BUCKET: archive\n    FILES_DIR: "${join(dir, "files")}"\n`,
    );
    writeFileSync(join(dir, "archive.yaml"), FLOW);
    dev = await startKiln(["dev", "--port", "0"], dir);
    g = ["--server", dev.url, "--data", join(dir, ".kiln")];
    for (const [name, value] of [
      ["S3_KEY", s3.accessKeyId],
      ["S3_SECRET", s3.secretAccessKey],
    ]) {
      const set = await kiln([...g, "secrets", "set", name as string, value as string]);
      assert.equal(set.code, 0, set.err);
    }
  });

  after(async () => {
    await dev?.stop();
    await s3?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("put to S3 and a directory, get by reference, list, delete; history keeps references only", async () => {
    const deployed = await kiln([...g, "deploy", "archive", "-f", join(dir, "archive.yaml")]);
    assert.equal(deployed.code, 0, deployed.err);
    const text = "a large value ".repeat(2000);
    const r = await kiln([...g, "start", "archive", "-i", JSON.stringify({ id: "doc-1", text }), "--wait", "--json"]);
    assert.equal(r.code, 0, `${r.out}${r.err}`);
    const run = r.json() as { id: string; status: string; output: { key: string; deleted: boolean } };
    assert.equal(run.status, "completed");
    assert.deepEqual(run.output, { key: "small/doc-1.json", deleted: true });
    assert.equal(existsSync(join(dir, "files", "small", "doc-1.json")), false);

    const status = await kiln([...g, "status", run.id, "--json"]);
    const steps = (status.json() as { steps: { name: string; output: { output: Record<string, unknown> } }[] }).steps;
    const out = (name: string) => steps.find((s) => s.name === name)?.output.output ?? {};
    assert.equal(out("to_s3").size, text.length);
    assert.match(String(out("to_s3").sha256), /^[0-9a-f]{64}$/);
    assert.equal(out("check").size, text.length);
    assert.equal("value" in out("check"), false, "as: ref keeps the value out of history");
    assert.deepEqual((out("back").value as { id: string }).id, "doc-1");
    assert.deepEqual(
      (out("list").items as { key: string; size: number }[]).map((i) => [i.key, i.size]),
      [["big/doc-1.txt", text.length]],
    );
    const stepsText = JSON.stringify(steps.filter((s) => s.name !== "to_s3"));
    assert.ok(
      !stepsText.includes(text.slice(0, 200)),
      "the large value is only in the run input and the first put's params",
    );
    assert.ok(!status.out.includes("S3RVER"), "the S3 credentials are masked");
    const onDisk = readFileSync(join(s3.directory, "archive", "big", "doc-1.txt._S3rver_object"), "utf8");
    assert.equal(onDisk, text);
  });
});
