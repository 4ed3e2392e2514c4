/**
 * Flows read the worker's `env` and `services` from config under `kiln dev` (issue 10.5): before,
 * `${env.X}` was always empty and the llm/email defaults could not be set, so documented flows
 * failed unchanged. A local HTTP server stands in for the payments API and the LLM endpoint.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Run } from "../../src/engine/run.ts";
import { type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const FLOW = `
metadata: { name: env-flow }
nodes:
  charge:
    type: http.request
    params: { method: POST, url: "\${env.PAYMENTS_URL}/charges", body: { amount: "\${flow.input.amount}" } }
    next: summarize
  summarize:
    type: llm
    params: { prompt: "Summarize charge \${input.body.id} in \${env.REGION}" }
    next: done
  done:
    type: transform
    params: { script: "return { charge: nodes.charge.output.body.id, text: input.text, region: env.REGION }" }
`;

describe("flows get worker.env and services from config (kiln dev)", { timeout: 120_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let stub: Server;
  const requests: { url: string; auth: string | undefined; body: Record<string, unknown> }[] = [];

  before(async () => {
    stub = createServer((req, res) => {
      let text = "";
      req.on("data", (c) => {
        text += c;
      });
      req.on("end", () => {
        requests.push({ url: req.url ?? "", auth: req.headers.authorization, body: JSON.parse(text || "{}") });
        res.setHeader("content-type", "application/json");
        if (req.url === "/pay/charges") res.end(JSON.stringify({ id: "ch_1" }));
        else
          res.end(
            JSON.stringify({
              model: "stub-model",
              choices: [{ message: { role: "assistant", content: "charged" }, finish_reason: "stop" }],
              usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
            }),
          );
      });
    });
    await new Promise<void>((r) => stub.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
    dir = mkdtempSync(join(tmpdir(), "kiln-flow-config-"));
    writeFileSync(
      join(dir, "kiln.yaml"),
      `worker:
  env: { PAYMENTS_URL: "\${TEST_PAYMENTS_BASE}/pay" }
  env_passthrough: [REGION]
services:
  llm: { base_url: "${base}/v1", api_key: "\${TEST_LLM_KEY}", model: stub-model }
  email: { from: "kiln@example.com", host: 127.0.0.1, port: 2525 }
`,
    );
    writeFileSync(join(dir, "env-flow.yaml"), FLOW);
    dev = await startKiln(["dev", "--port", "0"], dir, {
      TEST_PAYMENTS_BASE: base,
      TEST_LLM_KEY: "sk-test",
      REGION: "eu-1",
    });
  });

  after(async () => {
    await dev?.stop();
    stub?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("validates the config with env and services", async () => {
    // `kiln validate` runs in this process: give it the variables the config names.
    Object.assign(process.env, { TEST_PAYMENTS_BASE: "http://127.0.0.1:1", TEST_LLM_KEY: "k" });
    const r = await kiln(["validate", join(dir, "kiln.yaml"), join(dir, "env-flow.yaml")]);
    assert.equal(r.code, 0, r.out + r.err);
  });

  it("runs a flow whose nodes read env and the llm settings", async () => {
    const g = ["--server", dev.url, "--data", join(dir, ".kiln")];
    const d = await kiln([...g, "deploy", "env-flow", "-f", join(dir, "env-flow.yaml")]);
    assert.equal(d.code, 0, d.err);
    const r = await kiln([...g, "start", "env-flow", "-i", '{"amount":12}', "--wait", "--json"]);
    assert.equal(r.code, 0, r.err + dev.output());
    const run = r.json() as Run;
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.deepEqual(run.output, { charge: "ch_1", text: "charged", region: "eu-1" });
    assert.equal(requests[0]?.url, "/pay/charges");
    const llm = requests.find((q) => q.url === "/v1/chat/completions");
    assert.equal(llm?.auth, "Bearer sk-test");
    assert.equal(llm?.body.model, "stub-model");
  });

  it("accepts a script node written in the nodes form with run:, as docs/flows.md shows", async () => {
    const g = ["--server", dev.url, "--data", join(dir, ".kiln")];
    const file = join(dir, "greet.yaml");
    writeFileSync(
      file,
      `nodes:\n  greet:\n    run: 'echo "hello $INPUT_NAME"; echo "::set-output key=length::\${#INPUT_NAME}"'\n`,
    );
    const v = await kiln(["validate", file]);
    assert.equal(v.code, 0, v.out + v.err);
    const d = await kiln([...g, "deploy", "greet", "-f", file]);
    assert.equal(d.code, 0, d.err);
    const r = await kiln([...g, "start", "greet", "-i", '{"name":"Ada"}', "--wait", "--json"]);
    assert.equal(r.code, 0, r.err);
    const run = r.json() as Run;
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.deepEqual(run.output, { stdout: "hello Ada", length: "3" });
  });
});
