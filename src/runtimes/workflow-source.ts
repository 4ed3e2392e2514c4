import { createHash } from "node:crypto";
import { transform } from "esbuild";
import { KilnError } from "../errors.ts";
import type { HostRuntime } from "./protocol.ts";

/** The language of deployed workflow source. */
export type SourceLanguage = "javascript" | "typescript" | "python";

/** Deployed source made ready for a host: what it loads, and the hash that names it. */
export interface PreparedSource {
  readonly runtime: HostRuntime;
  readonly language: SourceLanguage;
  /** What the host loads: an ES module (JS shapes normalized, TypeScript transpiled) or Python. */
  readonly code: string;
  /** Hex SHA-256 of the source as deployed (the same hash the deployment stores). */
  readonly contentHash: string;
}

/** Params of prepareWorkflowSource. */
export interface PrepareSourceParams {
  readonly source: string;
  readonly runtime: HostRuntime;
  /** Known language; otherwise JS is tried first and TypeScript second. */
  readonly language?: "javascript" | "typescript";
  /** For error messages and source maps. */
  readonly filename?: string;
}

/** Hex SHA-256 of a source text. */
export function contentHashOf(source: string): string {
  return createHash("sha256").update(source).digest("hex");
}

/**
 * Makes deployed source runnable in a host: TypeScript is transpiled (esbuild, inline source
 * map), and the three JS shapes — a bare `async function workflow(…)` script, an ES module with
 * a default or `workflow` export or `defineWorkflow(…)`, and CommonJS `module.exports` — become
 * one ES module with a default export. Syntax errors fail with WORKFLOW_LOAD_FAILED and the
 * location, so a deploy can reject them.
 */
export async function prepareWorkflowSource(p: Readonly<PrepareSourceParams>): Promise<PreparedSource> {
  const contentHash = contentHashOf(p.source);
  if (p.runtime === "python") return { runtime: "python", language: "python", code: p.source, contentHash };
  const filename = p.filename ?? "workflow.ts";
  let language: "javascript" | "typescript" = p.language ?? "javascript";
  let js = p.source;
  if (language === "javascript") {
    // Plain JS keeps its exact text (and line numbers); only what fails to parse as JS is TS.
    try {
      await transform(p.source, { loader: "js", format: "esm", target: "node20", logLevel: "silent" });
    } catch {
      language = "typescript";
    }
  }
  if (language === "typescript") js = await transpileTypeScript(p.source, filename);
  return { runtime: "node", language, code: toModule(js), contentHash };
}

/** Transpiles TypeScript to an ES module (types stripped, inline source map). */
export async function transpileTypeScript(source: string, filename = "workflow.ts"): Promise<string> {
  try {
    const result = await transform(source, {
      loader: "ts",
      format: "esm",
      target: "node20",
      sourcemap: "inline",
      sourcefile: filename,
      logLevel: "silent",
    });
    return result.code;
  } catch (error) {
    const first = (error as { errors?: { text: string; location?: { line: number; column: number } }[] }).errors?.[0];
    const where = first?.location ? ` at ${filename}:${first.location.line}:${first.location.column + 1}` : "";
    throw new KilnError(
      "WORKFLOW_LOAD_FAILED",
      `The workflow source does not parse as JavaScript or TypeScript${where}: ${first?.text ?? (error as Error).message}`,
      { cause: error },
    );
  }
}

const MODULE_SYNTAX =
  /(?:^|[;\n}])[ \t]*(?:export[ \t\n]*(?:default\b|async\b|function\b|const\b|let\b|var\b|class\b|[{*])|import[ \t\n]*[\w${*"'])/;
const COMMONJS = /\bmodule\.exports\b|(?:^|[^.\w$])exports\.[\w$]+\s*=/;

/**
 * Normalizes a JS source into an ES module whose default export is the workflow (function or
 * definition). The prelude goes on the first line, so line numbers stay those of the source.
 */
function toModule(js: string): string {
  const body = js.startsWith("#!") ? `//${js.slice(2)}` : js;
  const isModule = MODULE_SYNTAX.test(body);
  const isCommonJs = !isModule && COMMONJS.test(body);
  const prelude: string[] = [
    'import { createRequire as __kilnRequire } from "node:module";',
    'import { fileURLToPath as __kilnPath } from "node:url";',
  ];
  if (!declares(body, "require")) prelude.push("const require = __kilnRequire(import.meta.url);");
  if (!declares(body, "__filename")) prelude.push("const __filename = __kilnPath(import.meta.url);");
  if (!declares(body, "__dirname")) prelude.push('const __dirname = __kilnPath(new URL(".", import.meta.url));');
  if (isCommonJs) {
    prelude.push("const module = { exports: {} }; const exports = module.exports;");
    return `${prelude.join(" ")} ${body}\n;export default module.exports;\n`;
  }
  if (isModule) return `${prelude.join(" ")} ${body}\n`;
  // A bare script: its top-level `workflow` function (or a defineWorkflow call) is the workflow.
  return `${prelude.join(" ")} ${body}\n;export default (typeof workflow === "undefined" ? undefined : workflow);\n`;
}

function declares(source: string, name: string): boolean {
  return new RegExp(
    `\\b(?:const|let|var|function|class)\\s+${name}\\b|\\bimport\\b[^;]*\\b${name}\\b[^;]*\\bfrom\\b`,
  ).test(source);
}
