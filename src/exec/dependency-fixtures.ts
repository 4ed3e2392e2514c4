/**
 * Test fixtures of script dependencies and remote sources: a tiny pure-Python wheel served by a
 * local "simple" package index, a local bare git repository, and a static HTTP server that also
 * answers S3 path-style GetObject/HeadObject. Not used by production code.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

/** Builds `<name>-<version>-py3-none-any.whl` in `dir` (a module `<name>` with `VALUE = <value>`) with the stdlib's zipfile. */
export function buildTinyWheel(dir: string, name: string, version: string, value: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${version}-py3-none-any.whl`);
  const program = `
import base64, hashlib, sys, zipfile
path, name, version, value = sys.argv[1:5]
info = f"{name}-{version}.dist-info"
files = {
  f"{name}/__init__.py": f"VALUE = {value!r}\\n",
  f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n",
  f"{info}/WHEEL": "Wheel-Version: 1.0\\nGenerator: kiln-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
record = []
with zipfile.ZipFile(path, "w") as z:
  for n, text in files.items():
    data = text.encode()
    z.writestr(n, data)
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record.append(f"{n},sha256={digest},{len(data)}")
  record.append(f"{info}/RECORD,,")
  z.writestr(f"{info}/RECORD", "\\n".join(record) + "\\n")
`;
  execFileSync("/usr/bin/python3", ["-c", program, file, name, version, value]);
  return file;
}

/** A local HTTP server for tests: a PEP 503 index of wheels, static files and S3-style objects. */
export interface FixtureServer {
  readonly url: string;
  /** Serves `body` at `path` (for S3: `/<bucket>/<key>`). */
  put(path: string, body: string | Buffer): void;
  /** Adds a wheel file to the index at `/simple/<project>/`. */
  addWheel(project: string, wheelFile: string): void;
  /** How many GETs each path got. */
  readonly hits: Map<string, number>;
  close(): Promise<void>;
}

/** Starts the fixture server on a free loopback port. */
export async function startFixtureServer(): Promise<FixtureServer> {
  const files = new Map<string, Buffer>();
  const projects = new Map<string, string[]>();
  const hits = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    if (req.method === "GET") hits.set(path, (hits.get(path) ?? 0) + 1);
    const project = /^\/simple\/([^/]+)\/?$/.exec(path)?.[1];
    if (project !== undefined) {
      const wheels = projects.get(project.toLowerCase());
      if (!wheels) return void res.writeHead(404).end();
      const links = wheels.map((w) => {
        const sha = createHash("sha256")
          .update(files.get(`/files/${w}`) as Buffer)
          .digest("hex");
        return `<a href="/files/${w}#sha256=${sha}">${w}</a>`;
      });
      return void res
        .writeHead(200, { "content-type": "text/html" })
        .end(`<html><body>${links.join("\n")}</body></html>`);
    }
    const body = files.get(path);
    if (body === undefined) {
      // S3 clients read the error code from an XML body.
      return void res
        .writeHead(404, { "content-type": "application/xml" })
        .end("<Error><Code>NoSuchKey</Code><Message>not found</Message></Error>");
    }
    res.writeHead(200, { "content-length": body.length, "content-type": "application/octet-stream" });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    put: (path, body) => files.set(path, Buffer.from(body)),
    addWheel: (project, wheelFile) => {
      const name = wheelFile.split("/").pop() as string;
      files.set(`/files/${name}`, readFileSync(wheelFile));
      projects.set(project.toLowerCase(), [...(projects.get(project.toLowerCase()) ?? []), name]);
    },
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@example.com",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@example.com",
    },
  }).trim();

/** A bare repository at `<dir>/repo.git` with a work tree at `<dir>/work`; `commit` pushes files to main. */
export function createGitRepo(dir: string): {
  bare: string;
  commit(files: Record<string, string>, tag?: string): string;
} {
  const bare = join(dir, "repo.git");
  const work = join(dir, "work");
  mkdirSync(work, { recursive: true });
  git(dir, "init", "--quiet", "--bare", "--initial-branch=main", bare);
  git(work, "init", "--quiet", "--initial-branch=main");
  git(work, "remote", "add", "origin", bare);
  return {
    bare,
    commit: (files, tag) => {
      for (const [name, text] of Object.entries(files)) writeFileSync(join(work, name), text, { mode: 0o755 });
      git(work, "add", "-A");
      git(work, "commit", "--quiet", "-m", "change");
      if (tag) git(work, "tag", tag);
      git(work, "push", "--quiet", "origin", "main", ...(tag ? [tag] : []));
      return git(work, "rev-parse", "HEAD");
    },
  };
}
