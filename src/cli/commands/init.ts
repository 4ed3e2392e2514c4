import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { KilnError } from "../../errors.ts";
import type { Runner } from "../command-registry.ts";

/** The JSON Schema of kiln.yaml shipped with this Kiln (clone or installed package). */
const SCHEMA_FILE = fileURLToPath(new URL("../../../schema/kiln.schema.json", import.meta.url));

/** The data directory `kiln dev` creates: it holds the master key and the admin token. */
const GITIGNORE_ENTRY = ".kiln/";

const CONFIG_BODY = `# Kiln configuration: every task below is a durable, retried, timed-out script.
server:
  url: http://127.0.0.1:7700
  namespace: default
worker:
  name: local-worker
  queue: default
  concurrency: 8
tasks:
  - kind: hello
    command: bash
    args: ["scripts/hello.sh"]
    input_format: env          # env | json_stdin | json_file | args
    output_format: json_stdout # stdout | json_stdout | file | exit_code_only (merged with $KILN_OUTPUT)
    commands: file-only        # outputs and state only from $KILN_OUTPUT / $KILN_STATE files
    exit_codes: { success: [0], retry: [75], failure: ["1-255"] }
    timeout_seconds: 60
    max_retries: 3
`;

const SCRIPT = `#!/usr/bin/env bash
# A Kiln task: input arrives as INPUT_* variables. Outputs and state go to the $KILN_OUTPUT and
# $KILN_STATE files, in GitHub Actions' $GITHUB_OUTPUT format: \`key=value\` lines, and
# \`key<<EOF\` … \`EOF\` blocks for values over several lines. Echoed input can never forge them,
# as it could forge a \`::set-output\` line on stdout. Stderr is the run's log.
set -euo pipefail
name="\${INPUT_NAME:-world}"
echo "::progress percent=50::greeting \${name}"
echo "greeting=Hello, \${name}!" >> "$KILN_OUTPUT"
echo "attempt=\${KILN_ATTEMPT}" >> "$KILN_OUTPUT"
echo "greeted=\${name}" >> "$KILN_STATE"
echo "greeted \${name}" >&2
`;

const WORKFLOW = `// A Kiln workflow: steps are memoized, sleeps are durable. Deployed by \`kiln dev\` at start.
async function workflow(input, { step, sleep, task }) {
  const greeting = await step("greet", () => \`Hello, \${input?.name ?? "world"}!\`);
  await sleep("wait", 1000);
  const script = await task("hello", { name: input?.name ?? "world" });
  return await step("complete", () => ({ message: greeting, script }));
}
`;

/** kiln.yaml with a `$schema` path relative to `root`, so editors find the schema from there. */
function configText(root: string): string {
  const schema = relative(root, SCHEMA_FILE).split(sep).join("/");
  return `# yaml-language-server: $schema=${schema.startsWith(".") ? schema : `./${schema}`}\n${CONFIG_BODY}`;
}

/** Adds the data directory to `root`/.gitignore (created when missing); true when it changed. */
function ignoreDataDir(root: string): boolean {
  const file = join(root, ".gitignore");
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  if (text.split(/\r?\n/).some((line) => [".kiln", ".kiln/", "/.kiln", "/.kiln/"].includes(line.trim()))) return false;
  const note = "# Kiln's data directory: the database, the master key and the admin token.\n";
  writeFileSync(file, `${text}${text && !text.endsWith("\n") ? "\n" : ""}${note}${GITIGNORE_ENTRY}\n`);
  return true;
}

/** `kiln init [dir]`: scaffolds a config, an example script and an example workflow. */
export function initProject(dir: string, force = false): string[] {
  const root = resolve(dir);
  const files: [string, string, number][] = [
    ["kiln.yaml", configText(root), 0o644],
    [join("scripts", "hello.sh"), SCRIPT, 0o755],
    [join("workflows", "hello.js"), WORKFLOW, 0o644],
  ];
  const existing = files.filter(([f]) => existsSync(join(root, f))).map(([f]) => f);
  if (existing.length > 0 && !force) {
    throw new KilnError("INVALID_INPUT", `${existing.join(", ")} already exist in ${root}; pass --force to overwrite`);
  }
  for (const [file, text, mode] of files) {
    const path = join(root, file);
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, text);
    chmodSync(path, mode);
  }
  const created = files.map(([f]) => f);
  return ignoreDataDir(root) ? [...created, ".gitignore"] : created;
}

/** Adds `kiln init`: scaffolds a project. */
export function installInitCommand(program: Command, run: Runner): void {
  program
    .command("init [dir]")
    .description("scaffold kiln.yaml, an example script and an example workflow")
    .option("--force", "overwrite existing files")
    .action(
      run(async (ctx, dir: string | undefined, opts: { force?: boolean }) => {
        const files = initProject(dir ?? ".", Boolean(opts.force));
        if (ctx.options.json) ctx.output.out(JSON.stringify({ created: files }));
        else {
          for (const f of files) ctx.output.out(`created ${f}`);
          ctx.output.out('next: kiln dev   (then: kiln start hello -i \'{"name":"Ada"}\' --wait)');
        }
        return 0;
      }),
    );
}
