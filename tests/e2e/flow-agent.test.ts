// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
/**
 * An agent flow through the CLI against a real `kiln dev`, its model and tools on a local stub:
 * `kiln dev` is SIGKILLed while the second tool call is in flight; after a restart the run
 * resumes, and the stub's request log shows the completed model calls and the completed first
 * tool call were not made again.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type ModelStub, startModelStub } from "../support/model-stub.ts";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const FLOW = `metadata: { name: trip }
nodes:
  plan:
    type: agent
    params:
      provider: anthropic
      base_url: "\${env.MODEL_URL}"
      model: stub-model
      api_key: "\${secrets.MODEL_KEY}"
      prompt: "Plan a trip to \${input.city}"
      max_iterations: 5
      tools:
        - name: weather
          description: The weather forecast of a city
          parameters: { type: object, properties: { city: { type: string } } }
          node: { type: http.request, params: { method: POST, url: "\${env.MODEL_URL}/tools/weather", body: "\${input}" } }
        - name: book
          description: Books a hotel in a city
          parameters: { type: object, properties: { city: { type: string } } }
          node: { type: http.request, params: { method: POST, url: "\${env.MODEL_URL}/tools/book", body: "\${input}" } }
`;

describe("agent flow survives a SIGKILLed kiln dev between two tool calls", { timeout: 180_000 }, () => {
  let dir: string;
  let stub: ModelStub;
  let dev: KilnProcess | undefined;
  let bookingHeld: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    bookingHeld = resolve;
  });
  const g = () => ["--server", (dev as KilnProcess).url, "--data", join(dir, ".kiln")];
  const start = async () => {
    dev = await startKiln(["dev", "--port", "0"], dir, { MODEL_URL: stub.url });
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-agent-"));
    stub = await startModelStub();
    stub.respond = (ask) => {
      if (ask.toolResults.length === 0)
        return { text: "Checking the weather.", toolCalls: [{ name: "weather", arguments: { city: "Lisbon" } }] };
      if (ask.toolResults.length === 1) return { toolCalls: [{ name: "book", arguments: { city: "Lisbon" } }] };
      return { text: "Sunny, and your hotel is booked." };
    };
    stub.route = (request, response) => {
      if (request.path === "/tools/weather") {
        response.writeHead(200, { "content-type": "application/json" });
        response.end(JSON.stringify({ forecast: "sunny" }));
        return true;
      }
      if (request.path !== "/tools/book") return false;
      // The first booking never gets an answer: kiln dev is killed while it waits for one.
      if (stub.calls("/tools/book").length === 1) {
        bookingHeld();
        return true;
      }
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ booking: "b-1" }));
      return true;
    };
    writeFileSync(join(dir, "kiln.yaml"), 'worker:\n  env: { MODEL_URL: "${MODEL_URL}" }\n');
    writeFileSync(join(dir, "trip.yaml"), FLOW);
    await start();
    const secret = await kiln([...g(), "secrets", "set", "MODEL_KEY", "sk-e2e-agent"]);
    assert.equal(secret.code, 0, secret.err);
  });

  after(async () => {
    await dev?.stop("SIGKILL");
    await stub?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("resumes after restart without repeating the completed model calls and tool call", async () => {
    const deployed = await kiln([...g(), "deploy", "trip", "-f", join(dir, "trip.yaml")]);
    assert.equal(deployed.code, 0, deployed.err);
    const started = await kiln([...g(), "start", "trip", "-i", '{"city":"Lisbon"}']);
    assert.equal(started.code, 0, started.err);
    const id = started.out.trim();
    await held;
    assert.equal(stub.calls("/tools/weather").length, 1);
    await dev?.stop("SIGKILL");
    await start();

    const done = await eventually(async () => {
      const s = (await kiln([...g(), "status", id, "--json"])).json() as {
        status: string;
        output: unknown;
        steps: { name: string; output: unknown }[];
      };
      return s.status === "completed" || s.status === "failed" ? s : undefined;
    }, 90_000);
    assert.equal(done.status, "completed", JSON.stringify(done));
    const output = done.output as {
      text: string;
      iterations: number;
      usage: { total_tokens: number };
      transcript: unknown[];
    };
    assert.equal(output.text, "Sunny, and your hotel is booked.");
    assert.equal(output.transcript.length, 6);
    assert.ok(output.usage.total_tokens > 0);
    // Each model call's token usage is on its step, as `kiln status` shows it.
    const first = done.steps.find((step) => step.name === "plan.model[0]")?.output as
      | { usage?: { input_tokens: number } }
      | undefined;
    assert.equal(first?.usage?.input_tokens, 10);

    // The request log: each model turn asked once, the weather once; only the interrupted booking twice.
    const turns = stub.calls("/v1/messages").map((r) => (r.body as { messages: unknown[] }).messages.length);
    assert.deepEqual(turns, [1, 3, 5]);
    assert.equal(stub.calls("/tools/weather").length, 1);
    assert.equal(stub.calls("/tools/book").length, 2);

    const logs = await kiln([...g(), "logs", id]);
    assert.match(logs.out, /tool weather → .*sunny/);
    assert.match(logs.out, /model: Sunny, and your hotel is booked\./);
    assert.doesNotMatch(logs.out, /sk-e2e-agent/);
  });
});
