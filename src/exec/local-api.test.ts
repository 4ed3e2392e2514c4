import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { LogLevel } from "../engine/log-level.ts";
import { type LocalApiHandler, type LocalApiServer, type StepRecord, startLocalApi } from "./local-api.ts";

const temp = mkdtempSync(join(tmpdir(), "kiln-api-"));
after(() => rmSync(temp, { recursive: true, force: true }));

/** An answer body; `error` is only there on 4xx/5xx answers (the assertions check which). */
type Json = Record<string, unknown> & { readonly error: { readonly code: string; readonly message: string } };

/** The token requests carry by default: the session of the routes suite. */
let sessionToken = "";

function call(
  socketPath: string,
  method: string,
  path: string,
  body?: string,
  authorization: string | null = `Bearer ${sessionToken}`,
): Promise<{ status: number; json: Json }> {
  const headers = authorization === null ? {} : { authorization };
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => {
        text += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A handler that records calls. */
function recordingHandler() {
  const calls: unknown[][] = [];
  const state = new Map<string, string>([["seen", "yes"]]);
  const steps = new Map<string, StepRecord>([["done-step", { stdout: "old\n", exitCode: 0 }]]);
  let requests = 0;
  const handler: LocalApiHandler = {
    log: (level: LogLevel, message: string) => calls.push(["log", level, message]),
    progress: (percent, message) => calls.push(["progress", percent, message]),
    getState: (key) => state.get(key) ?? null,
    setState: async (key, value) => {
      calls.push(["setState", key, value]);
    },
    setOutput: (key, value) => calls.push(["setOutput", key, value]),
    heartbeat: () => calls.push(["heartbeat"]),
    getStep: (name) => steps.get(name) ?? null,
    recordStep: async (name, result) => {
      const existing = steps.get(name);
      if (existing) return existing;
      if (result.exitCode !== 0) return null;
      steps.set(name, result);
      return result;
    },
    sleep: async (name, ms) => {
      if (name === "elapsed") return "done";
      calls.push(["sleep", name, ms]);
      return "parked";
    },
    waitForEvent: async (name, options) => {
      calls.push(["wait", name, options]);
      return name === "got" ? { status: "received", payload: { ok: 1 } } : { status: "parked" };
    },
  };
  return { handler, calls, steps, countRequest: () => requests++, requests: () => requests };
}

describe("local API routes", () => {
  const recording = recordingHandler();
  let server: LocalApiServer;
  let socket: string;
  before(async () => {
    socket = join(temp, "api.sock");
    server = await startLocalApi(socket);
    sessionToken = server.openSession(recording.handler, {
      onRequest: recording.countRequest,
      mask: (t) => t.replaceAll("hidden", "***"),
    }).token;
  });
  after(() => server.close());

  test("the socket is mode 0600", () => {
    assert.equal(statSync(socket).mode & 0o777, 0o600);
  });

  test("log, progress, output, heartbeat", async () => {
    assert.deepEqual(await call(socket, "POST", "/log", '{"message":"hi","level":"warning"}'), {
      status: 200,
      json: { ok: true },
    });
    await call(socket, "POST", "/log", '{"message":"default"}');
    await call(socket, "POST", "/progress", '{"percent":120,"message":"m"}');
    await call(socket, "POST", "/output", '{"key":"k","value":{"n":1}}');
    await call(socket, "POST", "/output", '{"outputs":{"a":1,"b":"2"}}');
    await call(socket, "POST", "/heartbeat");
    assert.deepEqual(recording.calls.splice(0), [
      ["log", "warning", "hi"],
      ["log", "info", "default"],
      ["progress", 100, "m"],
      ["setOutput", "k", { n: 1 }],
      ["setOutput", "a", 1],
      ["setOutput", "b", "2"],
      ["heartbeat"],
    ]);
    assert.ok(recording.requests() >= 6);
  });

  test("state get and put", async () => {
    assert.deepEqual((await call(socket, "GET", "/state/seen")).json, { key: "seen", value: "yes" });
    assert.deepEqual((await call(socket, "GET", "/state/unknown%20key")).json, { key: "unknown key", value: null });
    await call(socket, "PUT", "/state/k", '{"value":"v"}');
    await call(socket, "PUT", "/state/k", '{"value":null}');
    assert.deepEqual(recording.calls.splice(0), [
      ["setState", "k", "v"],
      ["setState", "k", null],
    ]);
  });

  // Regression: a bare JSON value answered ok and deleted the key (the body had no "value" field).
  test("state put with a bare JSON value stores it (Forge's curl -d '42')", async () => {
    for (const body of ["42", '"text"', '{"a":1}', "[1,2]", "true", '{"value":{"n":1}}', "null"]) {
      assert.equal((await call(socket, "PUT", "/state/k", body)).status, 200, body);
    }
    assert.deepEqual(recording.calls.splice(0), [
      ["setState", "k", "42"],
      ["setState", "k", "text"],
      ["setState", "k", '{"a":1}'],
      ["setState", "k", "[1,2]"],
      ["setState", "k", "true"],
      ["setState", "k", '{"n":1}'],
      ["setState", "k", null],
    ]);
    const empty = await call(socket, "PUT", "/state/k");
    assert.equal(empty.status, 400);
    assert.equal(empty.json.error.code, "INVALID_INPUT");
    assert.deepEqual(recording.calls.splice(0), []);
  });

  test("log: level warn is a warning, details are kept", async () => {
    await call(socket, "POST", "/log", '{"message":"careful","level":"warn","details":{"disk":"92%"}}');
    await call(socket, "POST", "/log", '{"message":"WARN too","level":"WARN"}');
    assert.deepEqual(recording.calls.splice(0), [
      ["log", "warning", 'careful {"disk":"92%"}'],
      ["log", "warning", "WARN too"],
    ]);
  });

  test("steps: look up, get-or-record, failed results are not recorded", async () => {
    assert.deepEqual((await call(socket, "GET", "/steps/done-step")).json, {
      recorded: true,
      stdout: "old\n",
      exitCode: 0,
    });
    assert.deepEqual((await call(socket, "POST", "/steps/new", "{}")).json, { recorded: false });
    assert.deepEqual((await call(socket, "POST", "/steps/new", '{"stdout":"x","exitCode":3}')).json, {
      recorded: false,
    });
    assert.deepEqual((await call(socket, "POST", "/steps/new", '{"stdout":"x","exitCode":0}')).json, {
      recorded: true,
      stdout: "x",
      exitCode: 0,
    });
    assert.deepEqual((await call(socket, "POST", "/steps/done-step", '{"stdout":"other","exitCode":0}')).json, {
      recorded: true,
      stdout: "old\n",
      exitCode: 0,
    });
  });

  test("sleep and wait-event answer done/received or parked", async () => {
    assert.deepEqual((await call(socket, "POST", "/sleep/elapsed", '{"duration":"5s"}')).json, { status: "done" });
    assert.deepEqual((await call(socket, "POST", "/sleep/nap", '{"duration":"1h30m"}')).json, { status: "parked" });
    assert.deepEqual((await call(socket, "POST", "/wait-event/got", '{"event":"paid"}')).json, {
      status: "received",
      payload: { ok: 1 },
    });
    assert.deepEqual((await call(socket, "POST", "/wait-event/w", '{"event":"e","key":"k1","timeout":60000}')).json, {
      status: "parked",
    });
    assert.deepEqual(recording.calls.splice(0), [
      ["sleep", "nap", 5_400_000],
      ["wait", "got", { event: "paid", key: null, timeoutMs: null }],
      ["wait", "w", { event: "e", key: "k1", timeoutMs: 60_000 }],
    ]);
  });

  test("errors are { error: { code, message } } with 4xx statuses, masked", async () => {
    assert.deepEqual(await call(socket, "GET", "/nope"), {
      status: 404,
      json: { error: { code: "ROUTE_NOT_FOUND", message: "No route GET /nope" } },
    });
    assert.equal((await call(socket, "GET", "/log")).status, 404);
    assert.equal((await call(socket, "GET", "/steps/")).status, 404);
    const malformed = await call(socket, "GET", "/state/%E0%A4%A");
    assert.equal(malformed.status, 400);
    assert.equal(malformed.json.error.code, "INVALID_INPUT");
    const badJson = await call(socket, "POST", "/log", "{nope");
    assert.equal(badJson.status, 400);
    assert.equal(badJson.json.error.code, "INVALID_JSON");
    const badField = await call(socket, "POST", "/log", '{"message":"hidden","level":"loud"}');
    assert.equal(badField.status, 400);
    assert.match(
      badField.json.error.message,
      /Expected "level" to be one of debug, trace, info, notice, warn, warning, error, err, fatal, critical, got "loud"/,
    );
    const missing = await call(socket, "POST", "/log", '{"level":"hidden"}');
    assert.match(missing.json.error.message, /^Expected "message" to be a string, got nothing$/);
    const badDuration = await call(socket, "POST", "/sleep/x", '{"duration":"soon hidden"}');
    assert.equal(badDuration.status, 400);
    assert.equal(badDuration.json.error.code, "INVALID_DURATION");
    assert.ok(!badDuration.json.error.message.includes("hidden"));
    const badExit = await call(socket, "POST", "/steps/x", '{"stdout":"","exitCode":999}');
    assert.equal(badExit.status, 400);
    const huge = await call(socket, "POST", "/log", JSON.stringify({ message: "x".repeat(1_100_000) }));
    assert.equal(huge.status, 413);
    assert.equal(huge.json.error.code, "PAYLOAD_TOO_LARGE");
  });
});

describe("local API sessions", () => {
  let server: LocalApiServer;
  let socket: string;
  before(async () => {
    socket = join(temp, "shared.sock");
    server = await startLocalApi(socket);
  });
  after(() => server.close());

  test("each request acts for the attempt whose token it carries", async () => {
    const first = recordingHandler();
    const second = recordingHandler();
    const a = server.openSession(first.handler);
    const b = server.openSession(second.handler);
    assert.match(a.token, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a.token, b.token);
    await call(socket, "POST", "/log", '{"message":"from a"}', `Bearer ${a.token}`);
    await call(socket, "POST", "/log", '{"message":"from b"}', `Bearer ${b.token}`);
    assert.deepEqual(first.calls, [["log", "info", "from a"]]);
    assert.deepEqual(second.calls, [["log", "info", "from b"]]);
    a.close();
    b.close();
  });

  test("a missing, unknown or ended token is refused with 401 and reaches no handler", async () => {
    const recording = recordingHandler();
    const session = server.openSession(recording.handler, { onRequest: recording.countRequest });
    const missing = await call(socket, "POST", "/log", '{"message":"x"}', null);
    assert.equal(missing.status, 401);
    assert.equal(missing.json.error.code, "UNAUTHENTICATED");
    assert.match(missing.json.error.message, /KILN_API_TOKEN/);
    const wrong = await call(socket, "PUT", "/state/k", '{"value":"v"}', `Bearer ${session.token.slice(1)}x`);
    assert.equal(wrong.status, 401);
    const notBearer = await call(socket, "POST", "/heartbeat", "{}", session.token);
    assert.equal(notBearer.status, 401);
    session.close();
    const ended = await call(socket, "POST", "/heartbeat", "{}", `Bearer ${session.token}`);
    assert.equal(ended.status, 401);
    assert.deepEqual(recording.calls, []);
    assert.equal(recording.requests(), 0);
  });
});
