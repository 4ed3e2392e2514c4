import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { hasCode } from "../errors.ts";
import { splitCommandLine } from "./command-line.ts";
import { createSecretResolver } from "./secret-resolver.ts";

describe("secret resolver", () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-resolver-"));
  writeFileSync(join(dir, "token.txt"), "from-file\n");

  const resolver = createSecretResolver({
    env: { DB_PASSWORD: "from-env", PATH: process.env.PATH },
    cwd: dir,
    vault: async (names) => Object.fromEntries(names.filter((n) => n === "API_TOKEN").map((n) => [n, "from-vault"])),
  });

  it("resolves vault names, env:, file: and cmd: references", async () => {
    assert.equal(await resolver.resolveSecret("API_TOKEN"), "from-vault");
    assert.equal(await resolver.resolveSecret("vault:API_TOKEN"), "from-vault");
    assert.equal(await resolver.resolveSecret("env:DB_PASSWORD"), "from-env");
    assert.equal(await resolver.resolveSecret("file:token.txt"), "from-file");
    assert.equal(await resolver.resolveSecret("cmd:printf '  from cmd \\n'"), "from cmd");
    assert.deepEqual(await resolver.resolveSecrets(["API_TOKEN", "env:DB_PASSWORD"]), {
      API_TOKEN: "from-vault",
      "env:DB_PASSWORD": "from-env",
    });
  });

  it("never runs cmd: text through a shell", async () => {
    const marker = join(dir, "pwned");
    const value = await resolver.resolveSecret(`cmd:echo safe; touch ${marker} $(touch ${marker}) \`id\``);
    assert.equal(value, `safe; touch ${marker} $(touch ${marker}) \`id\``);
    const { existsSync } = await import("node:fs");
    assert.equal(existsSync(marker), false);
  });

  it("fails with SECRET_NOT_FOUND saying why", async () => {
    const cases: [string, RegExp][] = [
      ["MISSING", /kiln secrets set MISSING/],
      ["env:NOPE", /NOPE is not set/],
      ["file:nope.txt", /ENOENT/],
      ["cmd:definitely-not-a-program-kiln", /was not found/],
      ["cmd:sh -c 'echo oops >&2; exit 3'", /exit code 3.*oops/],
    ];
    for (const [ref, why] of cases) {
      await assert.rejects(
        resolver.resolveSecret(ref),
        (e) => hasCode(e, "SECRET_NOT_FOUND") && why.test((e as Error).message),
        ref,
      );
    }
    const noVault = createSecretResolver({ env: {} });
    await assert.rejects(noVault.resolveSecret("X"), /no vault is configured/);
  });

  it("cleans up", () => rmSync(dir, { recursive: true, force: true }));
});

describe("splitCommandLine", () => {
  it("splits words with quotes and escapes, nothing more", () => {
    assert.deepEqual(splitCommandLine(`op read "op://vault/my item/password"`), [
      "op",
      "read",
      "op://vault/my item/password",
    ]);
    assert.deepEqual(splitCommandLine(`a 'b c' "d \\"e\\"" f\\ g ''`), ["a", "b c", 'd "e"', "f g", ""]);
    assert.deepEqual(splitCommandLine("  x   $HOME  "), ["x", "$HOME"]);
    assert.throws(() => splitCommandLine(`a "b`), /Unclosed/);
  });
});
