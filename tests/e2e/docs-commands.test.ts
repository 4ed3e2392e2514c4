/**
 * The shell, TypeScript and JavaScript blocks of README.md and docs/*.md run, unchanged, against a
 * real `kiln dev` (issue 10.5). Each block is found by its first line; the last test fails when a
 * block is neither run here nor marked `<!-- not-run: reason -->`, so new examples cannot rot
 * unseen. `npx kiln` / `kiln` in a block reach this checkout's CLI through shims on the PATH.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { eventually, KILN_BIN, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const FILES = [
  "README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];
const BLOCK = /(<!--\s*(?:not-run:[^>]*|run-by:\s*(\S+)\s*)-->\s*\n)?```(sh|bash|ts|js|mjs)\n([\s\S]*?)```/g;

interface Block {
  readonly where: string;
  readonly body: string;
  readonly notRun: boolean;
  /** `<!-- run-by: tests/e2e/x.test.ts -->`: another test runs this block. */
  readonly runBy?: string;
}

const blocks: Block[] = FILES.flatMap((file) => {
  const text = readFileSync(join(ROOT, file), "utf8");
  return [...text.matchAll(BLOCK)].map((m) => ({
    where: `${file}:${text.slice(0, m.index).split("\n").length}`,
    body: m[4] as string,
    notRun: m[1] !== undefined && m[2] === undefined,
    ...(m[2] === undefined ? {} : { runBy: m[2] }),
  }));
});
const covered = new Set<Block>();

/** The block of `file` whose text starts with `start`, counted as run by this file. */
function block(file: string, start: string): Block {
  const found = blocks.find((b) => b.where.startsWith(`${file}:`) && b.body.startsWith(start));
  if (!found) throw new Error(`No code block in ${file} starts with ${JSON.stringify(start)}`);
  covered.add(found);
  return found;
}

/** Runs a shell block with bash (-e: the first failing command fails the block). */
async function runShell(
  body: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; out: string }> {
  const child = spawn("bash", ["-e", "-c", body], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (c) => {
    out += c;
  });
  child.stderr.on("data", (c) => {
    out += c;
  });
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  return { code, out };
}

/** A directory with `kiln` and `npx` shims that run this checkout's CLI (`npx kiln …` → `kiln …`). */
function shimDir(parent: string): string {
  const bin = join(parent, "shims");
  mkdirSync(bin, { recursive: true });
  const names = Object.keys(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).bin ?? {});
  const node = process.execPath;
  writeFileSync(join(bin, "kiln"), `#!/bin/sh\nexec "${node}" "${KILN_BIN}" "$@"\n`);
  writeFileSync(
    join(bin, "npx"),
    `#!/bin/sh\ncase "$1" in ${["kiln", ...names].join("|")}) shift; exec "${node}" "${KILN_BIN}" "$@";; esac\necho "npx shim: unexpected $1" >&2; exit 127\n`,
  );
  chmodSync(join(bin, "kiln"), 0o755);
  chmodSync(join(bin, "npx"), 0o755);
  return bin;
}

describe("README and docs commands run unchanged", { timeout: 240_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let env: NodeJS.ProcessEnv;
  let payments: Server;
  let paymentsUrl: string;
  const paymentCalls: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-docs-run-"));
    payments = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        paymentCalls.push(`${req.method} ${req.url} ${req.headers.authorization ?? ""} ${body}`);
        // Order o-9's card is declined once (402, not retried), so its run fails at "charge".
        const declined = body.includes('"o-9"') && paymentCalls.filter((c) => c.includes('"o-9"')).length === 1;
        res.writeHead(declined ? 402 : 201, { "content-type": "application/json" });
        res.end(JSON.stringify({ id: `ch_${paymentCalls.length}` }));
      });
    });
    await new Promise<void>((r) => payments.listen(0, "127.0.0.1", r));
    paymentsUrl = `http://127.0.0.1:${(payments.address() as { port: number }).port}`;
    // The docs' flow, plugin and Bash script beside the quickstart's config.
    const project = join(dir, "project");
    cpSync(join(ROOT, "examples", "quickstart"), project, { recursive: true });
    mkdirSync(join(project, "plugins"));
    writeFileSync(join(project, "plugins", "slugify.mjs"), block("docs/flows.md", "export default (options)").body);
    writeFileSync(join(project, "scripts", "backup.sh"), block("README.md", "#!/usr/bin/env bash\nset -euo").body);
    chmodSync(join(project, "scripts", "backup.sh"), 0o755);
    const stubs = join(dir, "stubs");
    mkdirSync(stubs);
    writeFileSync(join(stubs, "pg_dump"), `#!/bin/sh\necho "dump of $3" > dump.bin\necho dumped\n`);
    writeFileSync(join(stubs, "aws"), "#!/bin/sh\necho uploaded\n");
    chmodSync(join(stubs, "pg_dump"), 0o755);
    chmodSync(join(stubs, "aws"), 0o755);
    const config = parse(readFileSync(join(project, "kiln.yaml"), "utf8"));
    config.tasks.push({ kind: "backup", command: "./scripts/backup.sh", env: { PATH: `${stubs}:/usr/bin:/bin` } });
    config.plugins = [{ name: "text", module: "./plugins/slugify.mjs" }];
    config.worker.env = { PAYMENTS_URL: paymentsUrl };
    writeFileSync(join(project, "kiln.yaml"), stringify(config));
    dev = await startKiln(["dev", "--port", "0", "--config", project], dir);
    env = {
      PATH: `${shimDir(dir)}:${process.env.PATH}`,
      KILN_SERVER: dev.url,
      KILN_DATA: join(dir, ".kiln"),
    };
  });

  after(async () => {
    await dev?.stop();
    await new Promise((r) => payments?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const g = () => ["--server", dev.url, "--data", join(dir, ".kiln")];

  it("README quick start: JS and Python workflows, a script task and a flow waiting for an event", async () => {
    const { body } = block("README.md", "npx kiln start hello");
    const r = await runShell(body, dir, env);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Hello, Ada!/);
    assert.match(r.out, /Py/);
    assert.match(r.out, /Bob/);
    const list = await kiln([...g(), "list", "runs", "--json", "--limit", "50"]);
    const runs = (list.json() as { items: { name: string; status: string }[] }).items;
    const approval = runs.find((x) => x.name === "approval");
    assert.ok(approval, list.out);
    await eventually(async () => {
      const all = (await kiln([...g(), "list", "runs", "--json", "--limit", "50"])).json() as {
        items: { name: string; status: string }[];
      };
      return all.items.find((x) => x.name === "approval")?.status === "completed" ? true : undefined;
    });
  });

  it("README embedding: the TypeScript example runs in plain tsx and prints the workflow's output", async () => {
    const { body } = block("README.md", 'import { Kiln } from "');
    const work = join(ROOT, "tests", "e2e", `.docs-embed-${process.pid}`);
    mkdirSync(work, { recursive: true });
    try {
      writeFileSync(
        join(work, "embed.ts"),
        body.replace('db: ".kiln/kiln.db"', `db: ${JSON.stringify(join(dir, "embed.db"))}`),
      );
      const child = spawn(process.execPath, ["--import", "tsx", join(work, "embed.ts")], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (c) => {
        out += c;
      });
      child.stderr.on("data", (c) => {
        out += c;
      });
      const code = await new Promise<number | null>((r) => child.once("exit", r));
      assert.equal(code, 0, out);
      assert.match(out, /message: 'Hello, Ada!'/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it("docs/flows.md: the first flow and its commands — validate, deploy, start, send the event, status, retry", async () => {
    const flow = block("docs/flows.md", "kiln validate order-approval.yaml");
    const yaml = readFileSync(join(ROOT, "docs", "flows.md"), "utf8").match(
      /```yaml\n(# yaml-language-server[\s\S]*?)```/,
    )?.[1];
    assert.ok(yaml);
    writeFileSync(join(dir, "order-approval.yaml"), yaml);
    const set = await kiln([...g(), "secrets", "set", "PAYMENTS_TOKEN", "pay-123"]);
    assert.equal(set.code, 0, set.err);
    // RUN_ID is the block's placeholder for the id `kiln start` prints.
    const [before, after] = flow.body.split(/^kiln status RUN_ID.*$/m) as [string, string];
    const first = await runShell(before, dir, env);
    assert.equal(first.code, 0, first.out);
    const id = /\b(run_[0-9a-z]+|[0-9a-f-]{36}|[0-9A-Z]{26})\b/.exec(first.out)?.[1];
    assert.ok(id, first.out);
    await eventually(async () => {
      const s = await kiln([...g(), "status", id, "--json"]);
      return (s.json() as { status: string }).status === "completed" ? true : undefined;
    });
    assert.ok(
      paymentCalls.some((c) => c.startsWith("POST /charges Bearer pay-123")),
      paymentCalls.join("\n"),
    );
    const status = await runShell(`kiln status ${id}`, dir, env);
    assert.equal(status.code, 0, status.out);
    assert.match(status.out, /charge\s+step\s+completed/);
    // `kiln retry` takes a failed run: one whose card is declined once at "charge".
    const failed = await kiln([...g(), "start", "order-approval", "-i", '{"order_id":"o-9","amount":50}', "--wait"]);
    assert.equal(failed.code, 1, failed.out);
    assert.match(failed.out + failed.err, /402/);
    const other = /run\s+(\S+)/.exec(failed.out)?.[1] ?? "";
    const retried = await runShell(after.replaceAll("RUN_ID", other), dir, env);
    assert.equal(retried.code, 0, retried.out);
    const done = await eventually(async () => {
      const s = (await kiln([...g(), "status", other, "--json"])).json() as {
        status: string;
        output: { body: unknown };
      };
      return s.status === "completed" ? s : undefined;
    });
    assert.ok(done.output.body);
  });

  it("docs/flows.md: the plugin module adds a node type that a flow through kiln dev uses", async () => {
    writeFileSync(
      join(dir, "slug.yaml"),
      `nodes:\n  slug:\n    type: text.slugify\n    params: { text: "\${flow.input.title}" }\n`,
    );
    // With the project's config, so `kiln deploy` checks the flow against its plugins locally.
    const deployed = await kiln([
      ...g(),
      "--config",
      join(dir, "project"),
      "deploy",
      "slug",
      "-f",
      join(dir, "slug.yaml"),
    ]);
    assert.equal(deployed.code, 0, deployed.err);
    const r = await kiln([...g(), "start", "slug", "-i", '{"title":"Hello Kiln World"}', "--wait", "--json"]);
    assert.equal(r.code, 0, r.err + r.out);
    assert.deepEqual((r.json() as { output: unknown }).output, { slug: "hello-kiln-world" });
  });

  it("README: the Bash script made resumable with kiln step runs its first step and parks on the durable sleep", async () => {
    const start = await kiln([...g(), "run", "backup", "--json"]);
    assert.equal(start.code, 0, start.err);
    const id = (start.json() as { id: string }).id;
    const run = await eventually(async () => {
      const s = (await kiln([...g(), "status", id, "--json"])).json() as {
        status: string;
        steps: { name: string; status: string; output: unknown }[];
      };
      return s.status === "sleeping" ? s : undefined;
    });
    assert.deepEqual(
      run.steps.map((s) => [s.name, s.status]),
      [
        ["dump", "completed"],
        ["cool-down", "waiting"],
      ],
    );
    assert.equal((await kiln([...g(), "cancel", id])).code, 0);
  });

  it("every shell, TypeScript and JavaScript block is run above, by the test it names, or marked not-run", () => {
    // docs/NAME.md whose own tests/e2e/docs-NAME.test.ts runs its blocks; README blocks name theirs.
    const ownTest = (where: string) => {
      const doc = /^docs\/(.+)\.md:/.exec(where)?.[1];
      return doc !== undefined && existsSync(join(ROOT, "tests", "e2e", `docs-${doc}.test.ts`));
    };
    for (const b of blocks) if (b.runBy) assert.ok(existsSync(join(ROOT, b.runBy)), `${b.where}: no ${b.runBy}`);
    const unrun = blocks
      .filter((b) => !b.notRun && !b.runBy && !covered.has(b) && !ownTest(b.where))
      .map((b) => b.where);
    assert.deepEqual(unrun, []);
  });
});
