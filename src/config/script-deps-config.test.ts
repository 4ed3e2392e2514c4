import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadConfig } from "./load-config.ts";

const SHA = "a".repeat(64);

/** Loads a kiln.yaml written to a temp directory; returns the config and its directory's path. */
function load(text: string) {
  const dir = mkdtempSync(join(tmpdir(), "kiln-deps-config-"));
  try {
    writeFileSync(join(dir, "kiln.yaml"), text);
    return { config: loadConfig({ file: join(dir, "kiln.yaml"), env: {} }), dir };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const refused = (text: string, message: RegExp) =>
  assert.throws(
    () => load(text),
    (e: Error & { code?: string }) => e.code === "INVALID_CONFIG" && message.test(e.message),
  );

describe("requirements and source in kiln.yaml", () => {
  it("resolves requirements by language and sources by kind", () => {
    const { config, dir } = load(`worker:
  dependencies: { cache_max_size_mb: 10, pip_index_url: "http://127.0.0.1:1/simple", pip_find_links: [wheels] }
tasks:
  - { kind: py, command: python3, requirements: [requests==2.32.0] }
  - { kind: js, command: node, requirements: package.json }
  - { kind: both, command: sh, requirements: { python: requirements.txt, node: [left-pad] } }
  - { kind: g, command: sh, source: { git: ./repo.git, branch: main, refresh: 5m } }
  - { kind: h, command: sh, source: { url: "https://example.com/x/run.sh?v=1", sha256: "${SHA}" } }
  - { kind: s, command: sh, source: { s3: "s3://b/jobs/a.py", sha256: "${SHA}", endpoint: "http://127.0.0.1:9000" } }
`);
    const [py, js, both, g, h, s] = config.tasks;
    assert.deepEqual(py?.requirements, { python: { type: "list", packages: ["requests==2.32.0"] }, node: null });
    assert.deepEqual(js?.requirements, { python: null, node: { type: "file", path: join(dir, "package.json") } });
    assert.deepEqual(both?.requirements?.python, { type: "file", path: join(dir, "requirements.txt") });
    assert.deepEqual(g?.scriptSource, {
      type: "git",
      repository: join(dir, "repo.git"),
      pin: { branch: "main" },
      refreshMs: 300_000,
    });
    assert.equal(h?.scriptSource?.type === "http" && h.scriptSource.file, "run.sh");
    assert.deepEqual(
      s?.scriptSource?.type === "s3" && [s.scriptSource.bucket, s.scriptSource.key, s.scriptSource.forcePathStyle],
      ["b", "jobs/a.py", true],
    );
    assert.equal(config.worker.dependencies.cacheMaxSizeBytes, 10 * 1024 * 1024);
    assert.deepEqual(config.worker.dependencies.pipFindLinks, [join(dir, "wheels")]);
    assert.equal(config.worker.dependencies.python, "/usr/bin/python3");
  });

  it("refuses a branch without refresh", () => {
    refused(`tasks:\n  - { kind: g, command: sh, source: { git: ./r.git, branch: main } }\n`, /refresh/);
  });

  it("refuses an HTTP source without sha256", () => {
    refused(`tasks:\n  - { kind: h, command: sh, source: { url: "https://example.com/run.sh" } }\n`, /sha256|source/);
  });

  it("refuses a git source with two pins", () => {
    refused(
      `tasks:\n  - { kind: g, command: sh, source: { git: ./r.git, commit: abcdef1, tag: v1 } }\n`,
      /exactly one of commit, tag or branch|source/,
    );
  });

  it("refuses a requirements list whose language the command does not tell", () => {
    refused(`tasks:\n  - { kind: b, command: bash, requirements: [x] }\n`, /requirements: \{ python/);
  });

  it("refuses working_directory with source", () => {
    refused(
      `tasks:\n  - { kind: h, command: sh, working_directory: /tmp, source: { url: "https://example.com/run.sh", sha256: "${SHA}" } }\n`,
      /remove working_directory/,
    );
  });
});
