import { KilnError, isKilnError } from "../errors.ts";
import { Sandbox } from "../flow/expressions/sandbox.ts";
import { nodeTypeRegistry } from "../flow/nodes/node-type.ts";
import { validateFlow } from "../flow/definition/validate-flow.ts";
import { prepareWorkflowSource } from "../runtimes/workflow-source.ts";

let sandbox: Promise<Sandbox> | undefined;

/**
 * Refuses a deploy whose source cannot run: JS/TS that does not parse (TypeScript is transpiled
 * here, at deploy time), or a YAML flow with any validation problem (all of them listed, with
 * line and column). Python is checked by its host when first loaded. `filename` names the file
 * in messages (default `<name>.ts` / `<name>.yaml`).
 */
export async function validateDeployment(
  p: Readonly<{ name: string; runtime: string; source: string; filename?: string }>,
): Promise<void> {
  if (p.runtime === "node") {
    try {
      // The file's own name when known (`x.js`), so a syntax error points at the file the user edits.
      await prepareWorkflowSource({ source: p.source, runtime: "node", filename: p.filename ?? `${p.name}.ts` });
    } catch (error) {
      const message = isKilnError(error) ? error.message : (error as Error).message;
      throw new KilnError("INVALID_INPUT", `Workflow ${p.name} does not compile: ${message}`, { cause: error });
    }
    return;
  }
  if (p.runtime === "flow") {
    sandbox ??= Sandbox.create();
    // Plugin node types are known to workers, not to the server: unknown types are reported by
    // `kiln validate` beside the config; here only the built-ins are checked.
    const problems = validateFlow(p.source, {
      code: await sandbox,
      nodeTypes: nodeTypeRegistry(),
      file: p.filename ?? `${p.name}.yaml`,
    });
    const fatal = problems.filter((q) => !/Unknown node type/.test(q.message));
    if (fatal.length > 0) {
      throw new KilnError(
        "INVALID_INPUT",
        `Flow ${p.name} is invalid (${fatal.length} problem(s)):\n${fatal.map((q) => `  ${q.file}:${q.line}:${q.column}: ${q.message}`).join("\n")}`,
        { data: { problems: fatal } },
      );
    }
  }
}
