import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ResolvedScriptSource } from "../config/resolve-script-deps.ts";
import { isKilnError } from "../errors.ts";
import { ContentCache } from "./content-cache.ts";
import { createGitRepo, type FixtureServer, startFixtureServer } from "./dependency-fixtures.ts";
import { type FetchSourceParams, fetchScriptSource } from "./script-source.ts";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe("script sources", { timeout: 120_000 }, () => {
  let dir: string;
  let server: FixtureServer;
  let cache: ContentCache;
  const logs: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-source-"));
    server = await startFixtureServer();
    cache = new ContentCache({ root: join(dir, "cache"), maxSizeBytes: 1024 ** 3 });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const fetch = (source: ResolvedScriptSource, extra: Partial<FetchSourceParams> = {}) =>
    fetchScriptSource({
      kind: "k",
      source,
      cache,
      log: (_l, m) => logs.push(m),
      mask: (t) => t,
      baseEnv: process.env,
      ...extra,
    });

  it("a git commit pin is fetched once, verified, and never fetched again", async () => {
    const repo = createGitRepo(join(dir, "git1"));
    const first = repo.commit({ "hello.sh": "echo first\n" });
    repo.commit({ "hello.sh": "echo second\n" });
    const source: ResolvedScriptSource = {
      type: "git",
      repository: repo.bare,
      pin: { commit: first },
      refreshMs: null,
    };
    const fetched = await fetch(source);
    assert.equal(fetched.commit, first);
    assert.ok(fetched.fetched);
    assert.equal(readFileSync(join(fetched.dir, "hello.sh"), "utf8"), "echo first\n");
    // Gone upstream: the pinned commit still comes from the cache.
    rmSync(repo.bare, { recursive: true, force: true });
    const again = await fetch(source);
    assert.equal(again.fetched, false);
    assert.equal(again.dir, fetched.dir);
  });

  it("a short commit that names no commit of the repository fails with SOURCE_FETCH_FAILED", async () => {
    const repo = createGitRepo(join(dir, "git2"));
    repo.commit({ "a.sh": "true\n" });
    const error = await fetch({
      type: "git",
      repository: repo.bare,
      pin: { commit: "0000000" },
      refreshMs: null,
    }).catch((e: unknown) => e);
    assert.ok(isKilnError(error) && error.code === "SOURCE_FETCH_FAILED", String(error));
    assert.equal(error.retryable, false);
  });

  it("a tag pin records the tag's commit", async () => {
    const repo = createGitRepo(join(dir, "git3"));
    const tagged = repo.commit({ "a.sh": "echo v1\n" }, "v1.0");
    repo.commit({ "a.sh": "echo later\n" });
    const fetched = await fetch({ type: "git", repository: repo.bare, pin: { tag: "v1.0" }, refreshMs: null });
    assert.equal(fetched.commit, tagged);
    assert.equal(readFileSync(join(fetched.dir, "a.sh"), "utf8"), "echo v1\n");
  });

  it("a branch is looked up again only after its refresh interval, and the commit is returned", async () => {
    const repo = createGitRepo(join(dir, "git4"));
    const one = repo.commit({ "a.sh": "echo one\n" });
    const source: ResolvedScriptSource = {
      type: "git",
      repository: repo.bare,
      pin: { branch: "main" },
      refreshMs: 60_000,
    };
    let now = 1_000_000;
    const clock = { now: () => now };
    assert.equal((await fetch(source, clock)).commit, one);
    const two = repo.commit({ "a.sh": "echo two\n" });
    now += 30_000;
    assert.equal((await fetch(source, clock)).commit, one, "within the refresh interval the branch is not looked up");
    now += 31_000;
    const moved = await fetch(source, clock);
    assert.equal(moved.commit, two);
    assert.equal(readFileSync(join(moved.dir, "a.sh"), "utf8"), "echo two\n");
  });

  it("an HTTP script with the right sha256 is downloaded once", async () => {
    const body = "#!/bin/sh\necho from-http\n";
    server.put("/scripts/run.sh", body);
    const source: ResolvedScriptSource = {
      type: "http",
      url: `${server.url}/scripts/run.sh`,
      sha256: sha256(body),
      file: "run.sh",
    };
    const first = await fetch(source);
    assert.equal(readFileSync(join(first.dir, "run.sh"), "utf8"), body);
    await fetch(source);
    assert.equal(server.hits.get("/scripts/run.sh"), 1);
  });

  it("an HTTP script with a wrong sha256 is refused and not kept", async () => {
    server.put("/scripts/changed.sh", "echo changed\n");
    const wrong = sha256("echo original\n");
    const error = await fetch({
      type: "http",
      url: `${server.url}/scripts/changed.sh`,
      sha256: wrong,
      file: "changed.sh",
    }).catch((e: unknown) => e);
    assert.ok(isKilnError(error) && error.code === "SOURCE_CHECKSUM_MISMATCH", String(error));
    assert.equal(error.retryable, false);
    assert.match(error.message, new RegExp(`sha256 ${sha256("echo changed\n")}, but source.sha256 is ${wrong}`));
    assert.ok(!existsSync(cache.entryDir("http", wrong)));
  });

  it("an S3 object is fetched with the AWS SDK (path style) and verified", async () => {
    const body = "print('from s3')\n";
    server.put("/bucket/jobs/report.py", body);
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" });
    const source: ResolvedScriptSource = {
      type: "s3",
      bucket: "bucket",
      key: "jobs/report.py",
      sha256: sha256(body),
      endpoint: server.url,
      region: "us-east-1",
      forcePathStyle: true,
      file: "report.py",
    };
    const fetched = await fetch(source);
    assert.equal(readFileSync(join(fetched.dir, "report.py"), "utf8"), body);
    const missing = await fetch({ ...source, key: "nope.py", sha256: sha256("x"), file: "nope.py" }).catch(
      (e: unknown) => e,
    );
    assert.ok(isKilnError(missing) && missing.code === "SOURCE_FETCH_FAILED", String(missing));
    assert.equal(missing.retryable, false);
  });
});
