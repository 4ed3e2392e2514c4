/**
 * OpenTelemetry traces end to end: `kiln dev` exports OTLP/HTTP to a receiver this test runs, and
 * one trace holds the `POST /v1/runs` request, the run, its attempt and the script's process,
 * whose TRACEPARENT belongs to that trace.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly service: string;
}

/** An OTLP/HTTP (JSON) trace receiver: collects every span it is sent. */
async function startReceiver(): Promise<{ server: Server; url: string; spans: ReceivedSpan[]; headers: string[] }> {
  const spans: ReceivedSpan[] = [];
  const headers: string[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      headers.push(String(req.headers["x-test-header"] ?? ""));
      const doc = JSON.parse(body) as {
        resourceSpans: {
          resource: { attributes: { key: string; value: { stringValue?: string } }[] };
          scopeSpans: { spans: Omit<ReceivedSpan, "service">[] }[];
        }[];
      };
      for (const rs of doc.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue ?? "";
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service });
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, headers };
}

const TASKS = `tasks:
  - kind: show-trace
    command: bash
    args: ["-c", "printf '{\\"traceparent\\":\\"%s\\"}' \\"$TRACEPARENT\\""]
    output_format: json_stdout
`;

describe("OpenTelemetry traces", { timeout: 180_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  before(async () => {
    receiver = await startReceiver();
    dir = mkdtempSync(join(tmpdir(), "kiln-tracing-"));
    writeFileSync(join(dir, "kiln.yaml"), TASKS);
    mkdirSync(join(dir, "workflows"));
    writeFileSync(
      join(dir, "workflows", "traced-parent.js"),
      'async function workflow(input, { task }) {\n  return await task("show-trace", {});\n}\n',
    );
    dev = await startKiln(["dev", "--port", "0"], dir, {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_HEADERS: "x-test-header=from-env",
      OTEL_SERVICE_NAME: "kiln-under-test",
    });
  });
  after(async () => {
    await dev?.stop();
    receiver?.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("puts the request, the run, its attempt and the script's process in one trace", async () => {
    const started = await kiln(["--server", dev.url, "--json", "run", "show-trace", "--wait"]);
    assert.equal(started.code, 0, `${started.err}${started.out}${dev.output()}`);
    const run = started.json() as { id: string; status: string; output: { traceparent: string } };
    assert.equal(run.status, "completed");
    const [, traceId, processSpanId] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(run.output.traceparent) ?? [];
    assert.ok(traceId && processSpanId, `a W3C traceparent: ${run.output.traceparent}`);

    const trace = await eventually(async () => {
      const mine = receiver.spans.filter((s) => s.traceId === traceId);
      return mine.some((s) => s.name.startsWith("run ")) ? mine : undefined;
    });
    const byName = (prefix: string) => trace.find((s) => s.name.startsWith(prefix));
    const request = byName("POST /v1/runs");
    const runSpan = byName("run show-trace");
    const attempt = byName("attempt 1");
    const processSpan = byName("process show-trace");
    assert.ok(request && runSpan && attempt && processSpan, trace.map((s) => s.name).join(", "));
    assert.equal(runSpan.parentSpanId, request.spanId, "the run hangs under the request that started it");
    assert.equal(attempt.parentSpanId, runSpan.spanId, "the attempt under the run");
    assert.equal(processSpan.parentSpanId, attempt.spanId, "the process under the attempt");
    assert.equal(processSpan.spanId, processSpanId, "the script's TRACEPARENT is its process span");
    assert.ok(
      trace.every((s) => s.service === "kiln-under-test"),
      "OTEL_SERVICE_NAME is honoured",
    );
    assert.ok(receiver.headers.includes("from-env"), "OTEL_EXPORTER_OTLP_HEADERS is honoured");
  });

  it("puts a workflow's child task in the trace of the request that started the workflow", async () => {
    const started = await kiln(["--server", dev.url, "--json", "start", "traced-parent", "--wait"]);
    assert.equal(started.code, 0, `${started.err}${started.out}${dev.output()}`);
    const parent = started.json() as { id: string; status: string; output: { traceparent: string } };
    assert.equal(parent.status, "completed");
    const [, traceId] = /^00-([0-9a-f]{32})-[0-9a-f]{16}-01$/.exec(parent.output.traceparent) ?? [];
    assert.ok(traceId, `the child script's traceparent: ${parent.output.traceparent}`);
    const trace = await eventually(async () => {
      const mine = receiver.spans.filter((s) => s.traceId === traceId);
      return mine.some((s) => s.name === "run traced-parent") && mine.some((s) => s.name === "run show-trace")
        ? mine
        : undefined;
    });
    const request = trace.find((s) => s.name.startsWith("POST /v1/runs"));
    const parentRun = trace.find((s) => s.name === "run traced-parent");
    const childRun = trace.find((s) => s.name === "run show-trace");
    assert.ok(request && parentRun && childRun, trace.map((s) => s.name).join(", "));
    assert.equal(parentRun.parentSpanId, request.spanId, "the workflow hangs under the request");
    assert.equal(childRun.parentSpanId, parentRun.spanId, "the child run under the workflow's run");
  });
});
