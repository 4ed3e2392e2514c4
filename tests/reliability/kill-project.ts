/**
 * The project the kill tests run: a multi-step JS workflow and a script task built of `kiln step`s,
 * every step appending one line to a side-effect log before its result is recorded. The log says
 * how often each step really ran; the recorded steps say what Kiln kept; each run's output lists
 * the step results its code went on with, so a step recorded twice (a second result replacing the
 * first) shows as an output that disagrees with the recorded steps.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Steps of the workflow and of the script task. */
export const WORKFLOW_STEPS = 5;
export const SCRIPT_STEPS = 3;

/**
 * Writes kiln.yaml, the workflow (workflows/chain.js, also deployable) and the script into `dir`.
 * Steps take 0.05–0.3 s times `stepScale` (the full-size runs slow them down so that the runs
 * outlast every kill instead of completing after the first few).
 */
export function writeKillProject(
  dir: string,
  concurrency: number,
  stepScale = 1,
): { log: string; workflowFile: string } {
  const log = join(dir, "side-effects.log");
  writeFileSync(log, "");
  const workflowFile = join(dir, "workflows", "chain.js");
  mkdirSync(join(dir, "workflows"), { recursive: true });
  writeFileSync(
    join(dir, "kiln.yaml"),
    `worker: { name: kill-worker, queue: default, concurrency: ${concurrency} }
tasks:
  - kind: steps
    command: bash
    args: ["steps.sh"]
    output_format: json_stdout
    timeout_seconds: 120
    max_retries: 20
`,
  );
  const script = ["#!/usr/bin/env bash", "set -euo pipefail", "out=()"];
  for (let i = 1; i <= SCRIPT_STEPS; i++) {
    script.push(
      `out+=("$(kiln step t${i} -- bash -c 't=$(((RANDOM % 3 + 1) * ${stepScale})); sleep $((t / 10)).$((t % 10)); n=$RANDOM$RANDOM; echo "$KILN_RUN_ID t${i} $n" >> ${log}; echo "$n"')")`,
    );
  }
  script.push(`printf '{"steps":["%s","%s","%s"]}\\n' "\${out[@]}"`);
  writeFileSync(join(dir, "steps.sh"), `${script.join("\n")}\n`);
  chmodSync(join(dir, "steps.sh"), 0o755);
  writeFileSync(
    workflowFile,
    `import { appendFileSync } from "node:fs";

export default async function workflow(input, { step }) {
  const steps = [];
  for (let i = 1; i <= ${WORKFLOW_STEPS}; i++) {
    steps.push(
      await step(\`w\${i}\`, async () => {
        await new Promise((r) => setTimeout(r, ${stepScale} * (50 + Math.random() * 250)));
        const n = String(Math.floor(Math.random() * 1e12));
        appendFileSync(${JSON.stringify(log)}, \`\${input.id} w\${i} \${n}\\n\`);
        return n;
      }),
    );
  }
  return { steps };
}
`,
  );
  return { log, workflowFile };
}

/** The figures of a kill test, checked and printed by `checkKillOutcome`. */
export interface KillFigures {
  readonly started: number;
  readonly completed: number;
  readonly lost: number;
  readonly stepsRecorded: number;
  readonly stepsRecordedTwice: number;
  readonly executions: number;
  readonly reExecutions: number;
}

/** What the kill tests read of a run (GET /v1/runs/:id). */
export interface RunView {
  readonly id: string;
  readonly type: string;
  readonly status: string;
  readonly input?: { id?: string } | null;
  readonly output?: { steps?: string[] } | null;
  readonly steps: readonly { name: string; status: string; output: unknown }[];
}

/** A step's result: a JS step's value, or the stdout a `kiln step` recorded. */
function resultOf(output: unknown): string {
  const value = output !== null && typeof output === "object" && "stdout" in output ? output.stdout : output;
  return String(value).trim();
}

/**
 * Checks every acknowledged run: completed, each step recorded once with the result the run went
 * on with, each recorded result one that a real execution logged. Returns the figures.
 */
export async function checkKillOutcome(
  getRun: (id: string) => Promise<RunView>,
  acknowledged: readonly { id: string; key: string }[],
  log: string,
): Promise<KillFigures> {
  const executions = new Map<string, Set<string>>();
  let total = 0;
  for (const line of readFileSync(log, "utf8").split("\n")) {
    const [key, step, n] = line.split(" ");
    if (key === undefined || step === undefined || n === undefined) continue;
    total++;
    const id = `${key} ${step}`;
    if (!executions.has(id)) executions.set(id, new Set());
    executions.get(id)?.add(n);
  }
  let completed = 0;
  let stepsRecorded = 0;
  let twice = 0;
  for (const { id, key } of acknowledged) {
    const run = await getRun(id);
    if (run.status !== "completed") continue;
    completed++;
    const mine = run.steps.filter((s) => s.status === "completed" && /^[wt]\d+$/.test(s.name));
    stepsRecorded += mine.length;
    const expected = run.type === "workflow" ? WORKFLOW_STEPS : SCRIPT_STEPS;
    assert.equal(mine.length, expected, `run ${id} recorded ${mine.length} of ${expected} steps`);
    const names = new Set(mine.map((s) => s.name));
    assert.equal(names.size, mine.length, `run ${id} has a step name twice`);
    const recorded = mine.map((s) => resultOf(s.output));
    // The code went on with exactly the recorded results: no second execution replaced one.
    if (JSON.stringify(run.output?.steps) !== JSON.stringify(recorded)) twice++;
    for (const s of mine) {
      const logged = executions.get(`${key} ${s.name}`);
      const value = resultOf(s.output);
      assert.ok(
        logged?.has(value),
        `run ${id} step ${s.name}: recorded ${value}, executions logged ${[...(logged ?? [])]}`,
      );
    }
  }
  return {
    started: acknowledged.length,
    completed,
    lost: acknowledged.length - completed,
    stepsRecorded,
    stepsRecordedTwice: twice,
    executions: total,
    reExecutions: total - executions.size,
  };
}
