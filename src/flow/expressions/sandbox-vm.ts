import type { QuickJSContext, QuickJSHandle, QuickJSRuntime, QuickJSWASMModule } from "quickjs-emscripten";
import { KilnError } from "../../errors.ts";
import { type ExpressionScope, SCOPE_NAMES } from "./expression-scope.ts";
import { sandboxPrelude } from "./sandbox-prelude.ts";

/** The resolved limits of a Sandbox (see SandboxOptions in sandbox.ts). */
export interface SandboxLimits {
  readonly memoryLimitBytes: number;
  readonly maxStackBytes: number;
  readonly expressionTimeoutMs: number;
  readonly scriptTimeoutMs: number;
  readonly maxCachedFunctions: number;
  readonly maxLogLines: number;
}

/** Why source text does not compile; `line` is 1-based within the source when known. */
export interface SyntaxProblem {
  readonly message: string;
  readonly line?: number;
}

// Compiled code reads the scope names it mentions from the binding, its only argument, so unused
// parts are never parsed. The source starts on line 2 of the wrapper: syntax errors report line - 1.
const BINDING = "__kiln_scope";
const NAME_PATTERNS = SCOPE_NAMES.map((name) => [name, new RegExp(`(^|[^\\w$])${name}($|[^\\w$])`)] as const);
const declarations = (source: string) =>
  NAME_PATTERNS.filter(([, pattern]) => pattern.test(source))
    .map(([name]) => `const ${name} = ${BINDING}.${name};`)
    .join(" ");
/** The function an expression compiles to: it takes the binding and returns the expression's value. */
export const expressionWrapper = (source: string) =>
  `(function (${BINDING}) { "use strict"; ${declarations(source)} return (\n${source}\n); })`;
/** The function a script compiles to; the body is a block of its own, so it may declare `let input`. */
export const scriptWrapper = (source: string) =>
  `(function (${BINDING}) { "use strict"; ${declarations(source)} {\n${source}\n} })`;

/** The prelude's entry points (see sandbox-prelude.ts). */
export interface VmEntryPoints {
  readonly api: QuickJSHandle;
  readonly setPart: QuickJSHandle;
  readonly setNodeIds: QuickJSHandle;
  readonly setSecrets: QuickJSHandle;
  readonly bind: QuickJSHandle;
  readonly evaluate: QuickJSHandle;
  readonly runScript: QuickJSHandle;
  readonly takeLogs: QuickJSHandle;
}

/** A key the VM has never been sent (distinct from any scope value, `undefined` included). */
export const NEVER = Symbol("never sent");

/** One QuickJS runtime and context with the prelude loaded; replaced whole after running out of memory. */
export class Vm {
  readonly runtime: QuickJSRuntime;
  readonly context: QuickJSContext;
  readonly entry: VmEntryPoints;
  readonly functions = new Map<string, QuickJSHandle>();
  deadline = Number.POSITIVE_INFINITY;
  interrupted = false;
  /** The scope the current binding was made from. */
  scope: ExpressionScope | undefined;
  /** What the VM holds of each scope part and node result, by identity of the value sent. */
  readonly sent = new Map<string, unknown>();
  nodeIds: readonly string[] = [];

  constructor(
    readonly module: QuickJSWASMModule,
    limits: SandboxLimits,
  ) {
    this.runtime = module.newRuntime();
    this.runtime.setMemoryLimit(limits.memoryLimitBytes);
    this.runtime.setMaxStackSize(limits.maxStackBytes);
    this.runtime.setInterruptHandler(() => {
      if (Date.now() <= this.deadline) return false;
      this.interrupted = true;
      return true;
    });
    this.context = this.runtime.newContext();
    const prelude = sandboxPrelude({ maxLogLines: limits.maxLogLines, maxLogLineChars: 8192 });
    const result = this.context.evalCode(prelude, "kiln-prelude.js");
    if (result.error) {
      const problem = describeError(this.context, result.error);
      result.error.dispose();
      this.dispose();
      throw new KilnError(
        "INVALID_CONFIG",
        `The expression sandbox could not start: ${problem}; raise its memory limit`,
      );
    }
    const api = result.value;
    const get = (name: string) => this.context.getProp(api, name);
    this.entry = {
      api,
      setPart: get("setPart"),
      setNodeIds: get("setNodeIds"),
      setSecrets: get("setSecrets"),
      bind: get("bind"),
      evaluate: get("evaluate"),
      runScript: get("runScript"),
      takeLogs: get("takeLogs"),
    };
  }

  dispose(): void {
    for (const handle of this.functions.values()) handle.dispose();
    this.functions.clear();
    if (this.entry !== undefined) for (const handle of Object.values(this.entry)) handle.dispose();
    this.context.dispose();
    this.runtime.dispose();
  }
}

/** Turns a thrown VM value into `Name: message` text. */
export function describeError(context: QuickJSContext, handle: QuickJSHandle): string {
  try {
    const dumped: unknown = context.dump(handle);
    if (dumped !== null && typeof dumped === "object" && "message" in dumped) {
      const { name, message } = dumped as { name?: unknown; message?: unknown };
      return typeof name === "string" && name !== "" ? `${name}: ${String(message)}` : String(message);
    }
    return `Uncaught ${typeof dumped === "string" ? dumped : JSON.stringify(dumped)}`;
  } catch {
    return "Uncaught exception";
  }
}

/** The 1-based line of a SyntaxError inside the wrapped source, when QuickJS reports one. */
export function syntaxLine(context: QuickJSContext, handle: QuickJSHandle): number | undefined {
  try {
    const dumped = context.dump(handle) as { lineNumber?: unknown };
    return typeof dumped.lineNumber === "number" ? Math.max(1, dumped.lineNumber - 1) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A syntax message about the expression itself: the wrapper's closing `)` shows up in QuickJS's
 * messages ("unexpected token: ')'"), so the bare source is compiled on its own for the message.
 */
export function expressionSyntaxMessage(vm: Vm, source: string, problem: SyntaxProblem, limits: SandboxLimits): string {
  const bare = checkSyntax(vm, source, limits);
  if (bare !== undefined)
    return bare.message.replace(/unexpected token in expression: ''$/, "unexpected end of expression");
  if (/;|\n/.test(source)) return "SyntaxError: expected one expression, found statements";
  return problem.message;
}

/** Compiles without running: the problem when the wrapped source does not compile. */
export function checkSyntax(vm: Vm, wrapped: string, limits: SandboxLimits): SyntaxProblem | undefined {
  vm.deadline = Date.now() + limits.expressionTimeoutMs;
  const result = vm.context.evalCode(wrapped, "expression.js", { compileOnly: true });
  vm.deadline = Number.POSITIVE_INFINITY;
  if (!result.error) {
    result.value.dispose();
    return undefined;
  }
  const message = describeError(vm.context, result.error);
  const line = syntaxLine(vm.context, result.error);
  result.error.dispose();
  return line === undefined ? { message } : { message, line };
}
