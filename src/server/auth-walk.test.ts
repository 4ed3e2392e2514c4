import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { openTestApp, type TestApp } from "../../tests/support/test-app.ts";
import { forEachStore } from "../../tests/support/test-db.ts";
import { TOKEN_ROLES, type TokenRole } from "../store/control-store.ts";
import type { ApiRoute } from "./api-route.ts";
import { uiRoutePaths } from "./ui-assets.ts";

/**
 * Walks EVERY route of the app (enumerated from Hono itself) and proves, on both stores:
 * 1. roles: each role gets 403 exactly where the route's access excludes it, and never otherwise;
 *    every non-public route answers 401 without a token;
 * 2. namespaces: a token of namespace A asking for namespace B gets 403 on every route;
 * 3. no cross-namespace reads or writes: every route, called from A with B's ids (run, lease
 *    token, token id, secret, workflow) returns none of B's data, and B's rows are unchanged;
 * 4. dead and false credentials: a revoked token, Basic with a wrong password (even with a valid
 *    token as the user name) and A's token naming B by `?namespace=` are refused on every route.
 */

/** The ids a route is called with. */
interface Ids {
  readonly runId: string;
  readonly leaseToken: number;
  readonly tokenId: string;
  readonly secret: string;
  readonly workflow: string;
  readonly version: string;
  readonly schedule: string;
}

interface Call {
  readonly path: string;
  readonly body?: unknown;
}

/** How each route is called (every route must be here: the walk fails on a route it does not know). */
const CALLS: Record<string, (ids: Ids) => Call> = {
  healthz: () => ({ path: "/healthz" }),
  readyz: () => ({ path: "/readyz" }),
  metrics: () => ({ path: "/metrics" }),
  openapi: () => ({ path: "/v1/openapi.json" }),
  whoami: () => ({ path: "/v1/whoami" }),
  startRun: () => ({ path: "/v1/runs", body: { type: "task", allowUnknown: true, name: "walk" } }),
  listRuns: () => ({ path: "/v1/runs?limit=100" }),
  getRun: (i) => ({ path: `/v1/runs/${i.runId}` }),
  listRunSteps: (i) => ({ path: `/v1/runs/${i.runId}/steps` }),
  cancelRun: (i) => ({ path: `/v1/runs/${i.runId}/cancel`, body: {} }),
  retryRun: (i) => ({ path: `/v1/runs/${i.runId}/retry`, body: {} }),
  listRunLogs: (i) => ({ path: `/v1/runs/${i.runId}/logs` }),
  sendEvent: () => ({ path: "/v1/events", body: { name: "walk.event", payload: 1 } }),
  listEvents: () => ({ path: "/v1/events?limit=100" }),
  deployWorkflow: (i) => ({ path: "/v1/workflows", body: { name: i.workflow, source: "walk source" } }),
  listWorkflows: () => ({ path: "/v1/workflows" }),
  getWorkflow: (i) => ({ path: `/v1/workflows/${i.workflow}` }),
  listWorkflowVersions: (i) => ({ path: `/v1/workflows/${i.workflow}/versions` }),
  getWorkflowVersion: (i) => ({ path: `/v1/workflows/${i.workflow}/versions/${i.version}` }),
  getFlowGraph: (i) => ({ path: `/v1/workflows/${i.workflow}/versions/${i.version}/graph` }),
  // Forced, so a delete that reached the wrong namespace would also cancel that namespace's runs.
  deleteWorkflowVersion: (i) => ({ path: `/v1/workflows/${i.workflow}/versions/${i.version}?force=true` }),
  deleteWorkflow: (i) => ({ path: `/v1/workflows/${i.workflow}?force=true` }),
  listWorkers: () => ({ path: "/v1/workers" }),
  listTaskKinds: () => ({ path: "/v1/tasks" }),
  listNamespaces: () => ({ path: "/v1/namespaces" }),
  createNamespace: () => ({ path: "/v1/namespaces", body: { name: "walked" } }),
  listTokens: () => ({ path: "/v1/tokens" }),
  createToken: () => ({ path: "/v1/tokens", body: { name: "walk", role: "viewer" } }),
  revokeToken: (i) => ({ path: `/v1/tokens/${i.tokenId}` }),
  listAccounts: () => ({ path: "/v1/accounts" }),
  createAccount: () => ({
    path: "/v1/accounts",
    body: { name: "walker", role: "viewer", namespace: "team", password: "walk-password-1" },
  }),
  setAccountPassword: () => ({ path: "/v1/accounts/walker/password", body: { password: "walk-password-2" } }),
  deleteAccount: () => ({ path: "/v1/accounts/walker" }),
  listSecrets: () => ({ path: "/v1/secrets" }),
  setSecret: (i) => ({ path: `/v1/secrets/${i.secret}`, body: { value: "walk value" } }),
  deleteSecret: (i) => ({ path: `/v1/secrets/${i.secret}` }),
  listSchedules: () => ({ path: "/v1/schedules" }),
  putSchedule: (i) => ({ path: "/v1/schedules", body: { id: i.schedule, task: "walk", cron: "@hourly" } }),
  getSchedule: (i) => ({ path: `/v1/schedules/${i.schedule}` }),
  pauseSchedule: (i) => ({ path: `/v1/schedules/${i.schedule}/pause`, body: { note: "walk" } }),
  resumeSchedule: (i) => ({ path: `/v1/schedules/${i.schedule}/resume`, body: {} }),
  triggerSchedule: (i) => ({ path: `/v1/schedules/${i.schedule}/trigger`, body: {} }),
  backfillSchedule: (i) => ({
    path: `/v1/schedules/${i.schedule}/backfill`,
    body: { from: "2026-01-01T00:00Z", to: "2026-01-01T02:00Z" },
  }),
  deleteSchedule: (i) => ({ path: `/v1/schedules/${i.schedule}` }),
  rotateSecretKey: () => ({ path: "/v1/secrets/rotate-key", body: {} }),
  stream: (i) => ({ path: `/v1/stream?runId=${i.runId}` }),
  websocket: (i) => ({ path: `/v1/ws?runId=${i.runId}` }),
  workerRegister: () => ({
    path: "/v1/worker/register",
    body: { name: "walk-worker", version: "1", queues: ["default"], kinds: [{ kind: "walk", settings: {} }] },
  }),
  workerUnregister: () => ({ path: "/v1/worker/unregister", body: { name: "b-worker-marker" } }),
  workerClaim: () => ({
    path: "/v1/worker/claim",
    body: { owner: "walker", limit: 10, queues: ["default"], waitMs: 0 },
  }),
  workerHeartbeat: (i) => ({
    path: "/v1/worker/heartbeat",
    body: { owner: "b-worker-marker", leaseMs: 60_000, leases: [{ runId: i.runId, leaseToken: i.leaseToken }] },
  }),
  workerSaveSteps: (i) => ({
    path: "/v1/worker/steps",
    body: {
      steps: [
        {
          runId: i.runId,
          leaseToken: i.leaseToken,
          name: "intruder",
          seq: 9,
          type: "step",
          status: "completed",
          output: 1,
        },
      ],
    },
  }),
  workerStartChild: (i) => ({
    path: "/v1/worker/child",
    body: { runId: i.runId, leaseToken: i.leaseToken, stepName: "kid", seq: 9, child: { type: "task", name: "k" } },
  }),
  workerAwaitEvent: (i) => ({
    path: "/v1/worker/await-event",
    body: { runId: i.runId, leaseToken: i.leaseToken, stepName: "ev", seq: 9, eventName: "e" },
  }),
  workerFinishRuns: (i) => ({
    path: "/v1/worker/finish",
    body: { items: [{ runId: i.runId, leaseToken: i.leaseToken, outcome: "complete", output: "hijacked" }] },
  }),
  workerUpdateRuns: (i) => ({
    path: "/v1/worker/update",
    body: {
      items: [
        { runId: i.runId, leaseToken: i.leaseToken, state: { x: "hijacked" }, progress: { percent: 1, message: null } },
      ],
    },
  }),
  workerAppendLogs: (i) => ({
    path: "/v1/worker/logs",
    body: { entries: [{ runId: i.runId, attempt: 1, leaseToken: i.leaseToken, level: "info", message: "injected" }] },
  }),
  workerSecrets: (i) => ({ path: "/v1/worker/secrets", body: { names: [i.secret] } }),
  workerUnseal: () => ({ path: "/v1/worker/unseal", body: { input: { plain: 1 } } }),
  // The session routes check the credential themselves (the bearer token when the body has none).
  createSession: () => ({ path: "/v1/session", body: {} }),
  getSession: () => ({ path: "/v1/session" }),
  deleteSession: () => ({ path: "/v1/session" }),
  listAudit: () => ({ path: "/v1/audit" }),
  putWebhookEndpoint: (i) => ({
    path: "/v1/webhooks/endpoints/walk",
    body: { workflow: i.workflow, secretFrom: i.secret },
  }),
  listWebhookEndpoints: () => ({ path: "/v1/webhooks/endpoints" }),
  getWebhookEndpoint: () => ({ path: "/v1/webhooks/endpoints/walk" }),
  deleteWebhookEndpoint: () => ({ path: "/v1/webhooks/endpoints/walk" }),
  createWebhookSubscription: () => ({
    path: "/v1/webhooks/subscriptions",
    body: { url: "http://127.0.0.1:9/walk", events: ["run.completed"] },
  }),
  listWebhookSubscriptions: () => ({ path: "/v1/webhooks/subscriptions" }),
  deleteWebhookSubscription: (i) => ({ path: `/v1/webhooks/subscriptions/${i.runId}` }),
  listWebhookDeliveries: () => ({ path: "/v1/webhooks/deliveries" }),
  getWebhookDelivery: (i) => ({ path: `/v1/webhooks/deliveries/${i.runId}` }),
  redeliverWebhook: (i) => ({ path: `/v1/webhooks/deliveries/${i.runId}/redeliver`, body: {} }),
  // Public: authenticated by the endpoint's signature, never by a token.
  receiveWebhook: () => ({ path: "/hooks/default/walk", body: {} }),
};

/** Public routes that authenticate the caller themselves: 401 without a credential. */
const SELF_AUTHENTICATING = new Set(["createSession", "getSession"]);

/** Data only namespace B holds: none of it may ever appear in an answer to namespace A. */
const B_MARKERS = [
  "B-INPUT-MARKER",
  "B-STEP-MARKER",
  "B-LOG-MARKER",
  "B-SECRET-VALUE-MARKER",
  "B-SOURCE-MARKER",
  "b-kind-marker",
  "b-token-marker",
  "b-queue-marker",
];

function allows(route: ApiRoute, role: TokenRole, all: boolean): boolean {
  if (route.access.roles === "public") return true;
  if (!route.access.roles.includes(role)) return false;
  return route.access.scope !== "global" || all;
}

/** Removes echoes of the request (error messages, lost leases) from an answer before looking for B's data. */
function withoutEchoes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutEchoes);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => k !== "error" && k !== "lost")
        .map(([k, v]) => [k, withoutEchoes(v)]),
    );
  }
  return value;
}

forEachStore("auth walk over every route", ({ dialect }) => {
  let t: TestApp;
  let a: Ids;
  let b: Ids;
  let bTokens: { admin: string };

  before(async () => {
    t = await openTestApp(dialect, { rateLimit: false });
    const { store } = t;
    await store.createNamespace({ name: "other" });
    // Namespace A ("team"): a run, a token, a secret, a workflow.
    const aRun = (await store.startRun({ namespace: "team", type: "task", name: "a-task" })).run;
    const aToken = await store.createToken({ name: "a-spare", namespace: "team", role: "viewer" });
    await t.kiln.deps.vault.set({ namespace: "team", name: "A_SECRET", value: "a value" });
    await store.deployWorkflow({ namespace: "team", name: "a-flow", runtime: "node", source: "a source" });
    const schedule = { cron: "@hourly", timezone: "UTC", jitterMs: 0, startAt: null, endAt: null };
    await store.putSchedule({
      ...schedule,
      namespace: "team",
      id: "a-schedule",
      target: { type: "task", name: "a" },
    });
    a = {
      runId: aRun.id,
      leaseToken: 0,
      tokenId: aToken.token.id,
      secret: "A_SECRET",
      workflow: "a-flow",
      version: "1",
      schedule: "a-schedule",
    };
    // Namespace B ("other"): the same kinds of rows, full of markers, with a leased run.
    const bRun = (
      await store.startRun({
        namespace: "other",
        type: "workflow",
        name: "b-flow",
        input: "B-INPUT-MARKER",
        queue: "b-queue-marker",
      })
    ).run;
    const claimed = await store.claimRuns({
      namespace: "other",
      queues: ["b-queue-marker"],
      owner: "b-worker-marker",
      limit: 1,
      leaseMs: 3_600_000,
    });
    const leaseToken = claimed.runs[0]?.run.leaseToken ?? -1;
    await store.saveSteps({
      steps: [
        {
          runId: bRun.id,
          leaseToken,
          name: "s1",
          seq: 0,
          type: "step",
          status: "completed",
          output: "B-STEP-MARKER",
        },
      ],
    });
    await store.appendLogs({ entries: [{ runId: bRun.id, attempt: 1, level: "info", message: "B-LOG-MARKER" }] });
    const bToken = await store.createToken({ name: "b-token-marker", namespace: "other", role: "admin" });
    bTokens = { admin: bToken.plaintext };
    await t.kiln.deps.vault.set({ namespace: "other", name: "B_SECRET", value: "B-SECRET-VALUE-MARKER" });
    await store.deployWorkflow({ namespace: "other", name: "b-flow", runtime: "node", source: "B-SOURCE-MARKER" });
    await store.putSchedule({
      ...schedule,
      namespace: "other",
      id: "b-schedule",
      target: { type: "workflow", name: "b-flow" },
      input: "B-INPUT-MARKER",
    });
    await store.registerWorker({
      namespace: "other",
      name: "b-worker-marker",
      version: "1",
      queues: ["b-queue-marker"],
      kinds: [{ kind: "b-kind-marker", settings: { note: "B-INPUT-MARKER" } }],
    });
    b = {
      runId: bRun.id,
      leaseToken,
      tokenId: bToken.token.id,
      secret: "B_SECRET",
      workflow: "b-flow",
      version: "1",
      schedule: "b-schedule",
    };
  });
  after(async () => {
    await t?.close();
  });

  async function call(
    route: ApiRoute,
    ids: Ids,
    init: { token: string | null; namespace?: string; headers?: Record<string, string>; query?: string },
  ) {
    const make = CALLS[route.operationId];
    assert.ok(
      make,
      `the walk does not know route ${route.method} ${route.path} (${route.operationId}): add it to CALLS`,
    );
    const { path, body } = make(ids);
    const res = await t.request(
      init.query === undefined ? path : `${path}${path.includes("?") ? "&" : "?"}${init.query}`,
      {
        method: route.method,
        token: init.token,
        ...(init.headers === undefined ? {} : { headers: init.headers }),
        ...(init.namespace === undefined ? {} : { namespace: init.namespace }),
        ...(body === undefined ? {} : { json: body }),
      },
    );
    const type = res.headers.get("content-type") ?? "";
    // Streams are checked for their status only; their feeds end with the app.
    if (type.includes("event-stream")) {
      await res.body?.cancel();
      return { status: res.status, text: "" };
    }
    return { status: res.status, text: await res.text() };
  }

  it("enumerates the same routes Hono serves, each with a declared access", () => {
    const served = t.kiln.app.routes
      .filter((r) => r.method !== "ALL" && !uiRoutePaths.includes(r.path))
      .map((r) => `${r.method} ${r.path}`);
    const declared = t.kiln.routes.map((r) => `${r.method} ${r.path}`);
    assert.deepEqual([...new Set(served)].sort(), [...declared].sort());
    assert.ok(declared.length >= 40, `walking ${declared.length} routes`);
    for (const r of t.kiln.routes) assert.ok(CALLS[r.operationId], `no walk entry for ${r.operationId}`);
  });

  it("answers 401 without a token on every non-public route, and never on public ones", async () => {
    for (const route of t.kiln.routes) {
      const { status } = await call(route, a, { token: null });
      const expected = route.access.roles === "public" ? "not 401" : 401;
      if (SELF_AUTHENTICATING.has(route.operationId)) assert.equal(status, 401, `${route.method} ${route.path}`);
      else if (route.access.roles === "public") assert.notEqual(status, 401, `${route.method} ${route.path}`);
      else assert.equal(status, 401, `${route.method} ${route.path} expected ${expected}`);
    }
  });

  it("gives each role 403 exactly where its access excludes it", async () => {
    const principals: [string, TokenRole, boolean][] = [
      [t.tokens.root, "admin", true],
      ...TOKEN_ROLES.map((role): [string, TokenRole, boolean] => [t.tokens[role], role, false]),
    ];
    for (const route of t.kiln.routes) {
      for (const [token, role, all] of principals) {
        const { status, text } = await call(route, a, { token, namespace: "team" });
        const label = `${role}${all ? " (*)" : ""} ${route.method} ${route.path} → ${status} ${text.slice(0, 160)}`;
        if (allows(route, role, all)) {
          assert.ok(status !== 401 && status !== 403, label);
        } else {
          assert.equal(status, 403, label);
          assert.equal(JSON.parse(text).error.code, "FORBIDDEN", label);
        }
      }
    }
  });

  it("forbids every route to a token acting outside its namespace", async () => {
    for (const route of t.kiln.routes) {
      if (route.access.roles === "public") continue;
      for (const role of TOKEN_ROLES) {
        const { status } = await call(route, b, { token: t.tokens[role], namespace: "other" });
        assert.equal(status, 403, `${role} of team → namespace other: ${route.method} ${route.path}`);
      }
      // And the other way round: B's admin may not reach into A.
      const { status } = await call(route, a, { token: bTokens.admin, namespace: "team" });
      assert.equal(status, 403, `admin of other → namespace team: ${route.method} ${route.path}`);
    }
  });

  it("refuses a revoked token, Basic with a wrong password and ?namespace= outside the token's namespace", async () => {
    const created = await t.json<{ id: string; token: string }>("/v1/tokens", {
      namespace: "team",
      json: { name: "soon-revoked", role: "admin" },
    });
    assert.equal(created.status, 201);
    const revoked = created.body.token;
    assert.equal((await t.request("/v1/whoami", { token: revoked })).status, 200, "the token works before");
    const revoke = await t.request(`/v1/tokens/${created.body.id}`, { method: "DELETE", namespace: "team" });
    assert.equal(revoke.status, 200);
    const basic = (user: string, password: string) => ({
      authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
    });
    const refusals = new Map<string, number>();
    for (const route of t.kiln.routes) {
      if (route.access.roles === "public" && !SELF_AUTHENTICATING.has(route.operationId)) continue;
      const attempts: [string, Parameters<typeof call>[2]][] = [
        ["revoked", { token: revoked, namespace: "team" }],
        ["basic wrong password", { token: null, namespace: "team", headers: basic("admin", "wrong") }],
        // A valid token as the user name: only the password is a credential.
        ["basic token as user", { token: null, namespace: "team", headers: basic(t.tokens.root, "wrong") }],
      ];
      for (const [label, init] of attempts) {
        const { status } = await call(route, a, init);
        assert.equal(status, 401, `${label}: ${route.method} ${route.path}`);
        refusals.set(label, (refusals.get(label) ?? 0) + 1);
      }
      if (route.access.roles === "public") continue;
      for (const role of TOKEN_ROLES) {
        const { status } = await call(route, b, { token: t.tokens[role], query: "namespace=other" });
        assert.equal(status, 403, `${role} of team → ?namespace=other: ${route.method} ${route.path}`);
        refusals.set("namespace by query", (refusals.get("namespace by query") ?? 0) + 1);
      }
    }
    console.log(`auth-walk (${dialect}) refusals: ${JSON.stringify(Object.fromEntries(refusals))} allowed=0`);
  });

  it("leaves exactly one audit record per state-changing call, refused or not, and never a secret", async () => {
    const count = async () => {
      await t.kiln.deps.audit.flush();
      return (await t.store.audit.listAuditRecords({ limit: 1000 })).items;
    };
    for (const route of t.kiln.routes) {
      if (route.method === "GET" || route.path.startsWith("/v1/worker/")) continue;
      for (const token of [t.tokens.root, t.tokens.viewer, null]) {
        const already = (await count()).length;
        const { status } = await call(route, a, { token, namespace: "team" });
        const records = await count();
        const label: string = `${route.method} ${route.path} (${status})`;
        assert.equal(records.length, already + 1, label);
        const [last] = records;
        assert.equal(last?.action, route.operationId, label);
        assert.equal(last?.status, status, label);
        assert.equal(last?.outcome === "ok", status < 400, label);
      }
    }
    const text = JSON.stringify(await count());
    const passwords = ["walk-password-1", "walk-password-2"];
    for (const secret of ["walk value", "a value", "B-SECRET-VALUE-MARKER", ...passwords, ...Object.values(t.tokens)]) {
      assert.ok(!text.includes(secret), `the audit log holds ${secret}`);
    }
  });

  it("never reads or writes B's rows from A, whatever ids a request names", async () => {
    const snapshot = async () => {
      const s = t.store;
      return JSON.stringify({
        run: await s.getRun({ namespace: "other", id: b.runId }),
        runs: (await s.listRuns({ namespace: "other" })).runs.map((r) => [r.id, r.status, r.updatedAt]),
        steps: await s.listSteps({ runId: b.runId }),
        logs: await s.listLogs({ runId: b.runId }),
        secrets: (await s.getSecrets({ namespace: "other", names: ["B_SECRET"] })).map((r) => [r.name, r.updatedAt]),
        tokens: await s.listTokens({ namespace: "other" }),
        workflows: await s.listWorkflowVersions({ namespace: "other", name: "b-flow" }),
        workers: (await s.listWorkers({ namespace: "other" })).map((w) => [w.name, w.kinds]),
        schedules: await s.listSchedules({ namespace: "other" }),
      });
    };
    const before = await snapshot();
    const principals: [string, TokenRole, boolean][] = [
      [t.tokens.root, "admin", true],
      ...TOKEN_ROLES.map((role): [string, TokenRole, boolean] => [t.tokens[role], role, false]),
    ];
    for (const route of t.kiln.routes) {
      // Global routes (metrics, namespaces, key rotation) span every namespace by design and need a * token.
      if (route.access.roles !== "public" && route.access.scope === "global") continue;
      for (const [token, role, all] of principals) {
        if (!allows(route, role, all)) continue;
        const { status, text } = await call(route, b, { token, namespace: "team" });
        if (status >= 200 && status < 300 && text !== "") {
          const answer = JSON.stringify(withoutEchoes(JSON.parse(text)));
          for (const marker of B_MARKERS) {
            assert.ok(
              !answer.includes(marker),
              `${role} ${route.method} ${route.path} leaked ${marker}: ${answer.slice(0, 300)}`,
            );
          }
        }
      }
    }
    assert.equal(await snapshot(), before, "namespace B is unchanged");
    const bRun = await t.store.getRun({ namespace: "other", id: b.runId });
    assert.equal(bRun?.leaseToken, b.leaseToken, "B's lease is intact");
    assert.deepEqual(await t.kiln.deps.vault.getValues({ namespace: "other", names: ["B_SECRET"] }), {
      B_SECRET: "B-SECRET-VALUE-MARKER",
    });
  });
});
