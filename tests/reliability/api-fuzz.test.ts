/**
 * Hostile API input: a property-based fuzzer (fast-check) over every route of the OpenAPI
 * document, on SQLite and PostgreSQL. Path parameters, query parameters, the namespace header,
 * idempotency keys and bodies get wrong types, huge and deeply nested values, invalid UTF-8,
 * path traversal, very long names, negative and huge limits and garbage cursors. Every answer
 * must be below 500, and every refusal a 4xx with `{ error: { code, message } }`. Prints its
 * figures (requests sent, answers by status, 5xx).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { type Dialect, openTestApp, type TestApp } from "../support/test-app.ts";
import { postgresSkip } from "../support/test-db.ts";
import { deepJson, FULL, hostileJson, hostileNumber, hostileString, INVALID_UTF8 } from "./hostile-input.ts";

type JsonObject = Record<string, unknown>;

interface Operation {
  readonly method: string;
  readonly path: string;
  readonly operationId: string;
  readonly pathParams: readonly string[];
  readonly queryParams: readonly string[];
  /** The top-level property names of the JSON body, if the operation takes one. */
  readonly bodyKeys: readonly string[] | null;
}

/** Every operation of the served OpenAPI document, with the names the fuzzer fills in. */
function operations(doc: JsonObject): Operation[] {
  const schemas = ((doc.components as JsonObject).schemas ?? {}) as Record<string, JsonObject>;
  const out: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, JsonObject>>)) {
    for (const [method, op] of Object.entries(methods)) {
      const params = (op.parameters ?? []) as { name: string; in: string }[];
      const ref = (op.requestBody as { content?: Record<string, { schema?: { $ref?: string } }> } | undefined)
        ?.content?.["application/json"]?.schema?.$ref;
      const body = ref === undefined ? undefined : schemas[ref.split("/").pop() ?? ""];
      out.push({
        method: method.toUpperCase(),
        path,
        operationId: String(op.operationId),
        pathParams: params.filter((p) => p.in === "path").map((p) => p.name),
        queryParams: params.filter((p) => p.in === "query").map((p) => p.name),
        bodyKeys: op.requestBody === undefined ? null : Object.keys((body?.properties ?? {}) as JsonObject),
      });
    }
  }
  return out;
}

/** A request body: raw text or bytes, with the content type it claims. */
type Body = { readonly text: string | Uint8Array; readonly type: string };

function bodyArbitrary(keys: readonly string[]): fc.Arbitrary<Body> {
  const json = (v: unknown) => ({ text: JSON.stringify(v) ?? "null", type: "application/json" });
  const known = keys.length === 0 ? fc.constant({}) : fc.dictionary(fc.constantFrom(...keys), hostileJson);
  return fc.oneof(
    known.map(json),
    hostileJson.map(json),
    fc.constantFrom(...INVALID_UTF8).map((bytes) => ({ text: bytes, type: "application/json" })),
    fc.constantFrom(deepJson(10_000, "array"), deepJson(10_000, "object"), deepJson(200, "object")).map((text) => ({
      text,
      type: "application/json",
    })),
    fc.constantFrom('{"a":', "{", "[1,2", "\u0000", "not json", '{"__proto__":{"admin":true}}').map((text) => ({
      text,
      type: "application/json",
    })),
    fc.constantFrom(
      { text: JSON.stringify({ name: "x".repeat(2_000_000) }), type: "application/json" },
      { text: "a=1&b=2", type: "application/x-www-form-urlencoded" },
      { text: "{}", type: "text/plain" },
    ),
  );
}

/** Percent-encodes a path segment; a lone surrogate becomes the invalid UTF-8 of its code unit. */
function encodeSegment(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return "%ED%A0%80";
  }
}

const segment = fc.oneof(
  hostileString.map(encodeSegment),
  fc.constantFrom("..", "%2e%2e", "..%2f..%2fadmin", "%ZZ", "%", "a%00", "x".repeat(5_000)),
);
const queryValue = fc.oneof(
  hostileString,
  hostileNumber.map(String),
  fc.constantFrom("-1", "0", "1e9", "99999999999999999999", "abc", "eyJpZCI6Ii0xIn0", "%%%", "null"),
);

/** Mostly null: a hostile value in a quarter of the requests, so most reach past the check it feeds. */
const sometimes = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: fc.constant(null), weight: 3 }, { arbitrary: arb, weight: 1 });

function requestArbitrary(op: Operation, realIds: readonly string[]) {
  const param = fc.oneof({ arbitrary: fc.constantFrom(...realIds), weight: 1 }, { arbitrary: segment, weight: 2 });
  return fc.record({
    params: fc.tuple(...op.pathParams.map(() => param)),
    query:
      op.queryParams.length === 0
        ? fc.constant([])
        : fc.array(fc.tuple(fc.constantFrom(...op.queryParams), queryValue), { maxLength: 4 }),
    extraQuery: sometimes(fc.tuple(fc.constantFrom("namespace", "cursor", "limit", "access_token"), queryValue)),
    namespace: sometimes(hostileString.map((s) => s.replace(/[^\t\x20-\x7e]/g, "?"))),
    idempotencyKey: sometimes(hostileString),
    body: op.bodyKeys === null ? fc.constant(undefined) : fc.option(bodyArbitrary(op.bodyKeys)),
  });
}

const RUNS_PER_ROUTE = FULL ? 400 : 15;

for (const dialect of ["sqlite", "postgres"] as Dialect[]) {
  describe(`hostile input on every route on ${dialect}`, {
    skip: dialect === "postgres" ? postgresSkip() : false,
    timeout: 600_000,
  }, () => {
    let t: TestApp;
    let realIds: string[] = [];
    before(async () => {
      t = await openTestApp(dialect, { rateLimit: false });
      // Real rows, so that some requests name ids that exist and go past the lookup.
      const run = (await t.store.startRun({ namespace: "default", type: "task", name: "fuzz" })).run;
      await t.store.deployWorkflow({ namespace: "default", name: "fuzz-flow", runtime: "node", source: "fuzz" });
      const token = await t.store.createToken({ name: "fuzz", namespace: "default", role: "viewer" });
      realIds = [run.id, "fuzz-flow", "1", token.token.id, "FUZZ_SECRET", "fuzz"];
    });
    after(async () => {
      await t?.close();
    });

    it("answers every request below 500, every refusal with a coded 4xx", async () => {
      const doc = (await t.json<JsonObject>("/v1/openapi.json")).body;
      const ops = operations(doc);
      assert.ok(ops.length >= 40, `fuzzing ${ops.length} operations`);
      const statuses = new Map<number, number>();
      let sent = 0;
      const runs = dialect === "postgres" ? Math.ceil(RUNS_PER_ROUTE / 2) : RUNS_PER_ROUTE;
      for (const op of ops) {
        await fc.assert(
          fc.asyncProperty(requestArbitrary(op, realIds), async (r) => {
            let i = 0;
            let path = op.path.replace(/\{[^}]+\}/g, () => r.params[i++] ?? "x");
            const search = new URLSearchParams();
            for (const [k, v] of r.query) search.append(k, v);
            if (r.extraQuery) search.append(r.extraQuery[0], r.extraQuery[1]);
            if (search.size > 0) path += `?${search}`;
            const headers: Record<string, string> = { authorization: `Bearer ${t.tokens.root}` };
            if (r.namespace !== null) headers["kiln-namespace"] = r.namespace;
            if (r.body) headers["content-type"] = r.body.type;
            let body = r.body?.text;
            if (r.idempotencyKey !== null && op.operationId === "startRun" && r.body?.type === "application/json") {
              body = JSON.stringify({ type: "task", name: "t", allowUnknown: true, idempotencyKey: r.idempotencyKey });
            }
            if (op.bodyKeys !== null && body === undefined) body = "";
            let res: Response;
            try {
              res = await t.kiln.app.request(path, {
                method: op.method,
                headers,
                ...(body === undefined ? {} : { body }),
              });
            } catch (error) {
              // The Request could not even be built (an invalid URL or header): nothing reached Kiln.
              if (error instanceof TypeError) return;
              throw error;
            }
            sent++;
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            const type = res.headers.get("content-type") ?? "";
            const label = `${op.method} ${path.slice(0, 200)} → ${res.status}`;
            if (type.includes("event-stream")) {
              await res.body?.cancel();
              assert.ok(res.status < 500, label);
              return;
            }
            const text = await res.text();
            assert.ok(res.status < 500, `${label}: ${text.slice(0, 300)}`);
            if (res.status >= 400) {
              const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
              assert.equal(typeof parsed.error?.code, "string", `${label}: ${text.slice(0, 300)}`);
              assert.match(parsed.error?.code as string, /^[A-Z][A-Z_]+$/, label);
              assert.equal(typeof parsed.error?.message, "string", label);
            }
          }),
          { numRuns: runs, endOnFailure: true },
        );
      }
      const fives = [...statuses].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
      console.log(
        `api-fuzz (${dialect}): operations=${ops.length} requests=${sent} 5xx=${fives} statuses=${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`,
      );
      assert.equal(fives, 0);
    });
  });
}
