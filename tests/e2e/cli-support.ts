/** Helpers of the CLI end-to-end tests: real `kiln` processes and CLI invocations. */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "../../src/cli/main.ts";
import type { Output } from "../../src/cli/output.ts";
import type { Run } from "../../src/engine/run.ts";

export const KILN_BIN = fileURLToPath(new URL("../../bin/kiln.mjs", import.meta.url));

/** A long-running `kiln dev|server|worker` process. */
export interface KilnProcess {
  readonly child: ChildProcess;
  /** The URL from "Kiln ready at …" (servers), or "" for workers. */
  readonly url: string;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `kiln <args>` in `cwd` and waits for its ready line. */
export async function startKiln(
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
  readyTimeoutMs = 30_000,
): Promise<KilnProcess> {
  const child = spawn(process.execPath, [KILN_BIN, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (c) => {
    out += c;
  });
  child.stderr?.on("data", (c) => {
    out += c;
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Nobody holds a handle on a process that never got ready: stop it, or it keeps the test file alive.
      child.kill("SIGKILL");
      reject(new Error(`kiln ${args.join(" ")} did not get ready:\n${out}`));
    }, readyTimeoutMs);
    const check = () => {
      const ready = /Kiln ready at (\S+)/.exec(out);
      if (ready) {
        clearTimeout(timer);
        resolve(ready[1] as string);
      } else if (/Kiln worker \S+ ready/.test(out)) {
        clearTimeout(timer);
        resolve("");
      }
    };
    child.stdout?.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`kiln ${args.join(" ")} exited (${code}):\n${out}`));
    });
  });
  return {
    child,
    url,
    output: () => out,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      child.kill(signal);
      return await exited;
    },
  };
}

/** Runs one CLI command in this process (as `kiln …` would) and captures what it prints. */
export async function kiln(
  argv: readonly string[],
): Promise<{ code: number; out: string; err: string; json: () => unknown }> {
  let out = "";
  let err = "";
  const output: Output = {
    out: (t) => {
      out += `${t}\n`;
    },
    err: (t) => {
      err += `${t}\n`;
    },
    isTTY: false,
  };
  const code = await runCli(argv, output);
  return { code, out, err, json: () => JSON.parse(out) };
}

/** Polls `check` until it returns a value (not undefined), or fails after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A remote worker's claim long-poll (kiln worker --server): a run found later than this was missed. */
export const CLAIM_LONG_POLL_MS = 25_000;

/**
 * Deploys a new workflow `fresh` (a file in `dir`) through `via` (global CLI options naming a
 * server), starts it with --wait and checks it completed; returns how long the start took, which
 * stays far below CLAIM_LONG_POLL_MS only if the deploy woke the worker's waiting claim.
 */
export async function deployAndRunFresh(dir: string, via: readonly string[]): Promise<number> {
  const file = join(dir, "fresh.js");
  writeFileSync(file, "async function workflow(input, { step }) {\n  return await step('hi', () => 'fresh');\n}\n");
  assert.equal((await kiln([...via, "deploy", "fresh", "-f", file])).code, 0);
  const started = Date.now();
  const r = await kiln([...via, "start", "fresh", "--wait", "--json"]);
  const tookMs = Date.now() - started;
  assert.equal(r.code, 0, r.err);
  const run = r.json() as Run;
  assert.equal(run.status, "completed");
  assert.equal(run.output, "fresh");
  return tookMs;
}
