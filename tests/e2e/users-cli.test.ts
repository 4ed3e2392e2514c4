/** `kiln users` against a real `kiln server`: accounts, HTTP Basic with them, and the rate-limit flags. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { KILN_BIN, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

describe("kiln users", { timeout: 180_000 }, () => {
  let dir: string;
  let server: KilnProcess;
  let g: string[];

  /** The real CLI in a child process, with `stdin` piped in (the password). */
  const kilnWithStdin = (args: readonly string[], stdin: string) => {
    const r = spawnSync(process.execPath, [KILN_BIN, ...g, ...args], { input: stdin, encoding: "utf8" });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const basicGet = (path: string, name: string, password: string) =>
    fetch(`${server.url}${path}`, {
      headers: { authorization: `Basic ${Buffer.from(`${name}:${password}`).toString("base64")}` },
    });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-users-"));
    server = await startKiln(
      ["server", "--port", "0", "--db", join(dir, "kiln.db"), "--anonymous-rate-limit", "0.1,6"],
      dir,
      { KILN_DATA: join(dir, "data") },
    );
    g = ["--server", server.url, "--data", join(dir, "data")];
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("adds, lists, changes the password of and removes an account that signs in with HTTP Basic", async () => {
    const added = kilnWithStdin(
      ["--namespace", "default", "users", "add", "ann", "--role", "viewer", "--password-stdin"],
      "ann-password-1\n",
    );
    assert.equal(added.code, 0, added.err);
    assert.match(added.out, /account ann \(viewer in default\) created/);

    const listed = await kiln([...g, "--json", "users", "list"]);
    assert.equal(listed.code, 0, listed.err);
    const items = (listed.json() as { items: { name: string; role: string; namespace: string }[] }).items;
    assert.deepEqual(
      items.map((a) => [a.name, a.role, a.namespace]),
      [["ann", "viewer", "default"]],
    );
    assert.doesNotMatch(listed.out, /ann-password|scrypt/);

    assert.equal((await basicGet("/v1/runs", "ann", "ann-password-1")).status, 200);
    assert.equal((await basicGet("/v1/runs", "ann", "wrong-password")).status, 401);

    const changed = kilnWithStdin(["users", "passwd", "ann", "--password-stdin"], "ann-password-2\n");
    assert.equal(changed.code, 0, changed.err);
    assert.equal((await basicGet("/v1/runs", "ann", "ann-password-2")).status, 200);
    assert.equal((await basicGet("/v1/runs", "ann", "ann-password-1")).status, 401);

    const removed = await kiln([...g, "users", "rm", "ann"]);
    assert.equal(removed.code, 0, removed.err);
    assert.equal((await basicGet("/v1/runs", "ann", "ann-password-2")).status, 401);
    const again = await kiln([...g, "users", "rm", "ann"]);
    assert.notEqual(again.code, 0);
    assert.match(again.err, /ACCOUNT_NOT_FOUND|No account "ann"/);
  });

  it("never takes a password without a terminal or --password-stdin", () => {
    const r = kilnWithStdin(["users", "add", "bob", "--role", "viewer"], "");
    assert.notEqual(r.code, 0);
    assert.match(r.err, /--password-stdin/);
  });

  it("limits unauthenticated requests per address as --anonymous-rate-limit says", async () => {
    let limited: Response | undefined;
    for (let i = 0; i < 10 && !limited; i++) {
      const res = await fetch(`${server.url}/healthz`);
      if (res.status === 429) limited = res;
    }
    assert.ok(limited, "a 429 within 10 requests (burst 6)");
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
    assert.equal(((await limited.json()) as { error: { code: string } }).error.code, "RATE_LIMITED");
  });
});
