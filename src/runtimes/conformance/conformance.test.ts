import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";
import { openTestSqlite, type TestStore } from "../../../tests/support/test-db.ts";
import type { WorkflowFunction } from "../../workflow/workflow-context.ts";
import { HostPool } from "../host-pool.ts";
import { type HostHarness, hostHarness } from "../../../tests/support/host-harness.ts";
import { type ConformanceScenario, DOUBLE_TASK, SCENARIOS } from "./scenarios.ts";

/**
 * Every conformance scenario on every runtime: the in-process activation (JS imported into the
 * worker), the Node host and the Python host (deployed code in host processes). Each must record
 * the same steps (name, type, status, attempt) and end the run the same way. The activation does
 * not depend on the store, so the runtimes share one SQLite store.
 */
const PYTHON = process.env.KILN_TEST_PYTHON ? { python: process.env.KILN_TEST_PYTHON } : {};
const RUNTIMES = ["in-process", "node", "python"] as const;
type Runtime = (typeof RUNTIMES)[number];

describe("activation conformance", () => {
  const clock = { now: 1_000_000 };
  let db: TestStore;
  let pool: HostPool;
  let dir: string;

  before(async () => {
    db = await openTestSqlite({ clock: () => clock.now });
    dir = mkdtempSync(join(tmpdir(), "kiln-conformance-"));
    pool = new HostPool({ size: 1, directory: dir, ...PYTHON });
  });
  after(async () => {
    await pool?.close();
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  let modules = 0;
  /** Registers (or replaces) the scenario's code for `runtime` under `name`. */
  async function install(h: HostHarness, runtime: Runtime, name: string, js: string, python: string): Promise<void> {
    if (runtime === "python") {
      await h.deploy(name, python, "python");
    } else if (runtime === "node") {
      await h.deploy(name, js, "node");
    } else {
      const file = join(dir, `in-process-${++modules}.mjs`);
      writeFileSync(file, js);
      const fn = (await import(pathToFileURL(file).href)).default as WorkflowFunction;
      h.worker.registry.addWorkflow({ name, version: null, fn });
    }
  }

  async function play(scenario: ConformanceScenario, runtime: Runtime, index: number) {
    const ns = `conformance-${runtime}-${index}`;
    const h = hostHarness(db, clock, ns, pool);
    h.task(DOUBLE_TASK.kind, DOUBLE_TASK.handler);
    const name = `scenario-${index}`;
    await install(h, runtime, name, scenario.js, scenario.python);
    const id = await h.start(name, scenario.input ?? null);
    await h.drain();
    for (const action of scenario.actions ?? []) {
      if (action.kind === "redeploy") {
        await install(h, runtime, name, action.js, action.python);
        clock.now += action.advanceMs;
      } else {
        assert.equal((await h.run(id)).status, action.expectStatus, `status before ${action.kind}`);
        if (action.kind === "advance") clock.now += action.ms;
        else {
          await db.store.sendEvent({
            namespace: ns,
            name: action.name,
            ...(action.key === undefined ? {} : { key: action.key }),
            payload: action.payload,
          });
        }
      }
      await h.drain();
    }
    const run = await h.run(id);
    const steps = await h.steps(id);
    return {
      outcome:
        run.status === "completed"
          ? { status: run.status, output: run.output }
          : { status: run.status, code: run.error?.code },
      history: steps.map((s, i) => {
        const expected = scenario.history[i];
        return {
          name: s.name,
          type: s.type,
          status: s.status,
          ...(expected?.attempt === undefined ? {} : { attempt: s.attempt }),
        };
      }),
    };
  }

  for (const [index, scenario] of SCENARIOS.entries()) {
    describe(scenario.name, () => {
      for (const runtime of RUNTIMES) {
        it(runtime, async () => {
          const { outcome, history } = await play(scenario, runtime, index);
          assert.deepEqual(history, scenario.history, "recorded steps");
          assert.deepEqual(outcome, scenario.outcome, "outcome");
        });
      }
    });
  }
});
