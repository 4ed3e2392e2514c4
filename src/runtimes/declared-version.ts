import { parse } from "yaml";

/** A version written in a workflow's source, and where it was found (for messages). */
export interface DeclaredVersion {
  readonly version: string;
  readonly where: string;
}

const DEFINE_WORKFLOW = /\bdefineWorkflow\s*\(\s*\{([^{}]*)\}/;
const VERSION_PROPERTY = /\bversion\s*:\s*(?:"([^"\n]*)"|'([^'\n]*)'|`([^`$\n]*)`|(\d+(?:\.\d+)*)\b)/;

/**
 * The version a workflow's source declares: `defineWorkflow({ version })` in JS/TS (a literal;
 * a computed version cannot be known before the code runs, so it is not one), a flow's
 * `metadata.version`. Python declares none. Undefined when there is none.
 */
export function declaredVersion(source: string, runtime: string): DeclaredVersion | undefined {
  if (runtime === "flow") {
    let doc: unknown;
    try {
      doc = parse(source);
    } catch {
      return undefined; // deploy validation reports the YAML error itself
    }
    const version = (doc as { metadata?: { version?: unknown } } | null)?.metadata?.version;
    if (typeof version === "string" || typeof version === "number") {
      return { version: String(version), where: "the flow's metadata.version" };
    }
    return undefined;
  }
  if (runtime !== "node") return undefined;
  const options = DEFINE_WORKFLOW.exec(source)?.[1];
  const found = options === undefined ? null : VERSION_PROPERTY.exec(options);
  const version = found?.slice(1).find((v) => v !== undefined);
  return version === undefined ? undefined : { version, where: "defineWorkflow({ version }) in the source" };
}
