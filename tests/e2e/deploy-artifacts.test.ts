/**
 * The deployment artifacts (issue 15.1) say what they mean: the command lines of the Dockerfile,
 * deploy/compose.yaml and the Kubernetes manifests start real `kiln server` / `kiln worker`
 * processes (their `$(VAR)`s filled with test values), the probes' paths answer, a worker started
 * as a manifest says runs a task; the systemd units pass `systemd-analyze verify`. Images are not
 * built here (no container engine on this machine): the Dockerfile gets static checks instead.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { postgresSkip } from "../support/test-db.ts";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const pgUrl = process.env.KILN_TEST_DATABASE_URL ?? "";

interface Container {
  readonly where: string;
  readonly args: readonly string[];
  readonly probes: readonly string[];
  readonly configMap?: string;
}

/** The parts of a Kubernetes object this test reads. */
interface Manifest {
  readonly kind: string;
  readonly data?: Record<string, string>;
  readonly spec?: {
    readonly template?: {
      readonly spec?: {
        readonly containers?: readonly {
          readonly name: string;
          readonly image: string;
          readonly args: string[];
          readonly livenessProbe?: { httpGet?: { path?: string } };
          readonly readinessProbe?: { httpGet?: { path?: string } };
        }[];
      };
    };
  };
}

/** Every container of the Kubernetes manifests, with its args and probe paths. */
function k8sContainers(): { containers: Container[]; configs: Record<string, string> } {
  const dir = join(ROOT, "deploy", "k8s");
  const containers: Container[] = [];
  const configs: Record<string, string> = {};
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), "utf8"))) {
      const o = doc.toJS() as Manifest;
      if (o.kind === "ConfigMap") Object.assign(configs, o.data);
      for (const c of o.spec?.template?.spec?.containers ?? []) {
        if (!String(c.image).startsWith("kiln")) continue;
        containers.push({
          where: `${file}:${c.name}`,
          args: c.args,
          probes: [c.livenessProbe?.httpGet?.path, c.readinessProbe?.httpGet?.path].filter(
            (p): p is string => p !== undefined,
          ),
        });
      }
    }
  }
  return { containers, configs };
}

/** The compose services built from the Kiln image, with their commands. */
function composeServices(): Container[] {
  const doc = parseYaml(readFileSync(join(ROOT, "deploy", "compose.yaml"), "utf8"), { merge: true }) as {
    services: Record<string, { command?: string[]; image?: string }>;
  };
  return Object.entries(doc.services)
    .filter(([, s]) => s.image === "kiln:local")
    .map(([name, s]) => ({ where: `compose.yaml:${name}`, args: s.command ?? [], probes: [] }));
}

/** The Dockerfile's final CMD as a list. */
function dockerCmd(): string[] {
  const text = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  const cmd = [...text.matchAll(/^CMD (\[.*\])$/gm)].at(-1)?.[1];
  assert.ok(cmd, "the Dockerfile has a CMD in exec form");
  return JSON.parse(cmd) as string[];
}

describe("deployment artifacts", { timeout: 180_000 }, () => {
  let dir: string;
  const procs: KilnProcess[] = [];
  const masterKey = Buffer.alloc(32, 7).toString("base64");

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "kiln-deploy-"));
  });
  after(async () => {
    for (const p of procs) await p.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The args with `$(VAR)` filled, the port made free and paths moved into the test directory. */
  const localize = (args: readonly string[], vars: Record<string, string>) =>
    args.map((a, i) => {
      const filled = a.replace(/\$\((\w+)\)/g, (_, v: string) => vars[v] ?? "");
      if (args[i - 1] === "--port") return "0";
      if (filled.startsWith("/var/lib/kiln/")) return join(dir, "var", filled.slice("/var/lib/kiln/".length));
      return filled;
    });

  it("the Dockerfile: multi-stage, non-root, a health check, and every COPY source exists", () => {
    const text = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    assert.ok((text.match(/^FROM /gm) ?? []).length >= 2, "multi-stage");
    const users = [...text.matchAll(/^USER (\S+)/gm)].map((m) => m[1]);
    assert.ok(users.length > 0 && !["root", "0"].includes(users.at(-1) as string), "runs as a non-root user");
    assert.match(text, /^HEALTHCHECK [^\n]*\\\n\s*CMD .*\/healthz/m);
    assert.match(text, /^ENTRYPOINT \[.*"\/app\/bin\/kiln\.mjs"\]/m);
    assert.doesNotMatch(text, /^ADD https?:/m);
    for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const source of (m[1] as string).split(/\s+/)) assert.ok(existsSync(join(ROOT, source)), `COPY ${source}`);
    }
    assert.deepEqual(dockerCmd().slice(0, 1), ["server"]);
  });

  it("the systemd units pass systemd-analyze verify", (t) => {
    try {
      execFileSync("systemd-analyze", ["--version"], { stdio: "ignore" });
    } catch {
      t.skip("systemd-analyze is not installed here");
      return;
    }
    const units = join(ROOT, "deploy", "systemd");
    const files = readdirSync(units).filter((f) => f.endsWith(".service"));
    assert.ok(files.length >= 2);
    execFileSync("systemd-analyze", ["verify", ...files.map((f) => `./${f}`)], { cwd: units, stdio: "pipe" });
  });

  it("the servers' command lines start kiln server on PostgreSQL and SQLite; their probes answer; the workers' run a task", {
    skip: postgresSkip(),
  }, async () => {
    const { containers, configs } = k8sContainers();
    const servers = [...containers, ...composeServices()].filter((c) => c.args[0] === "server");
    const workers = [...containers, ...composeServices()].filter((c) => c.args[0] === "worker");
    assert.ok(servers.length >= 3 && workers.length >= 3, JSON.stringify({ servers, workers }));
    const dbUrl = `${pgUrl}${pgUrl.includes("?") ? "&" : "?"}schema=kiln_deploy_${process.pid}`;
    let first: KilnProcess | undefined;
    let n = 0;
    for (const c of [...servers, { where: "Dockerfile CMD", args: dockerCmd(), probes: ["/healthz", "/readyz"] }]) {
      const args = localize(c.args, { KILN_DATABASE_URL: dbUrl }).map((a) =>
        a.startsWith("postgres://kiln:kiln@db") ? dbUrl : a,
      );
      mkdirSync(join(dir, "var"), { recursive: true });
      // Each server its own data directory (admin token), as each container has its own volume.
      const server = await startKiln(args, dir, { KILN_MASTER_KEY: masterKey, KILN_DATA: join(dir, `data-${n++}`) });
      procs.push(server);
      first ??= server;
      const port = new URL(server.url).port;
      for (const path of c.probes) {
        const r = await fetch(`http://127.0.0.1:${port}${path}`);
        assert.equal(r.status, 200, `${c.where} ${path}`);
      }
    }
    assert.ok(first);
    const port = new URL(first.url).port;
    const admin = readFileSync(join(dir, "data-0", "admin-token"), "utf8").trim();
    const g = ["--server", `http://127.0.0.1:${port}`, "--token", admin];
    const made = await kiln([...g, "tokens", "create", "--name", "workers", "--role", "worker", "--json"]);
    assert.equal(made.code, 0, made.err + made.out);
    const workerToken = (made.json() as { token: string }).token;
    writeFileSync(join(dir, "kiln.yaml"), configs["kiln.yaml"] ?? "");
    for (const c of workers) {
      const args = c.args.map((a, i) => {
        if (c.args[i - 1] === "--server") return `http://127.0.0.1:${port}`;
        if (a === "/etc/kiln/kiln.yaml")
          return c.where.startsWith("compose")
            ? join(ROOT, "examples", "quickstart", "kiln.yaml")
            : join(dir, "kiln.yaml");
        return a;
      });
      procs.push(await startKiln(args, dir, { KILN_TOKEN: workerToken }));
    }
    const run = await kiln([...g, "run", "hello", "-i", '{"name":"k8s"}', "--wait", "--json"]);
    assert.equal(run.code, 0, run.err + run.out);
    await eventually(async () => ((run.json() as { status: string }).status === "completed" ? true : undefined));
  });
});
