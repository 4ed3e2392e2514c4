import {
  newQuickJSWASMModule,
  newVariant,
  type QuickJSHandle,
  type QuickJSWASMModule,
  RELEASE_SYNC,
} from "quickjs-emscripten";
import { KilnError } from "../../errors.ts";
import type { ExpressionScope } from "./expression-scope.ts";
import {
  checkSyntax,
  describeError,
  expressionSyntaxMessage,
  expressionWrapper,
  NEVER,
  type SandboxLimits,
  type SyntaxProblem,
  scriptWrapper,
  syntaxLine,
  Vm,
} from "./sandbox-vm.ts";

export type { SyntaxProblem } from "./sandbox-vm.ts";

/** Limits of a Sandbox. Every field has a default. */
export interface SandboxOptions {
  /** Memory of the QuickJS runtime, scope included (default 64 MiB). */
  readonly memoryLimitBytes?: number;
  /** Native stack of the runtime, which bounds recursion (default 256 KiB). */
  readonly maxStackBytes?: number;
  /** Time one expression may run (default 100 ms). */
  readonly expressionTimeoutMs?: number;
  /** Time one `transform` script may run (default 5 s). */
  readonly scriptTimeoutMs?: number;
  /** Compiled expressions kept for reuse (default 2000). */
  readonly maxCachedFunctions?: number;
  /** `console` lines kept per script run (default 1000; the rest are counted). */
  readonly maxLogLines?: number;
}

/** A value computed in the sandbox and the secrets it read. */
export interface SandboxValue {
  readonly value: unknown;
  /** Names of the secrets read while computing the value, sorted. */
  readonly secretNames: readonly string[];
}

/** One `console` line of a script. */
export interface SandboxLog {
  readonly level: "info" | "warn" | "error" | "debug";
  readonly message: string;
}

/** The result of a `transform` script: its return value, its console lines and the secrets it read. */
export interface ScriptValue extends SandboxValue {
  /** Console lines, with every secret value of the scope replaced by `***`. */
  readonly logs: readonly SandboxLog[];
}

/** What validation needs of a sandbox: compile checks that run nothing. */
export type CodeChecker = Pick<Sandbox, "checkExpression" | "checkScript">;

/** Why an evaluation failed, in `data.reason` of an EXPRESSION_FAILED error. */
export type SandboxFailure = "error" | "syntax" | "timeout" | "memory" | "crashed";

const NO_NAMES: readonly string[] = Object.freeze([]);

type WasmMemoryType =
  NonNullable<Parameters<typeof newVariant>[1]["wasmMemory"]> extends infer M ? Exclude<M, () => unknown> : never;
// The WebAssembly global exists in Node; this tsconfig's libs only declare its types.
const WasmMemory = (
  globalThis as unknown as {
    WebAssembly: { Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemoryType };
  }
).WebAssembly.Memory;
const WASM_PAGE = 64 * 1024;
/** Room for the prelude, compiled expressions and a replacement runtime, above the script's limit. */
const WASM_HEADROOM = 48 * 1024 * 1024;

/**
 * Loads a QuickJS module whose WebAssembly memory cannot grow past the memory limit plus some
 * headroom. QuickJS's own limit counts allocations without their sizes in this build (no
 * malloc_usable_size), so a script of large strings would otherwise grow the heap to 2 GiB, for
 * tens of seconds, before failing: capping the heap makes such a bomb fail fast with "out of memory".
 */
function newSandboxModule(memoryLimitBytes: number): Promise<QuickJSWASMModule> {
  const maximum = Math.ceil((memoryLimitBytes + WASM_HEADROOM) / WASM_PAGE);
  const initial = Math.min(maximum, 256);
  return newQuickJSWASMModule(newVariant(RELEASE_SYNC, { wasmMemory: new WasmMemory({ initial, maximum }) }));
}

/** Replaces every secret value of the scope by `***` in text that leaves the sandbox (messages, logs). */
function maskText(text: string, scope: ExpressionScope | undefined): string {
  if (scope?.secrets === undefined) return text;
  const values = Object.values(scope.secrets).filter((value) => typeof value === "string" && value !== "");
  // Longest first, so a secret that contains another is masked whole.
  values.sort((a, b) => b.length - a.length);
  return values.reduce((out, value) => out.split(value).join("***"), text);
}

const abbreviate = (source: string) => {
  const flat = source.replace(/\s+/g, " ").trim();
  return flat.length > 120 ? `${flat.slice(0, 117)}...` : flat;
};

/**
 * A QuickJS interpreter for `${…}` expressions and `transform` scripts (never node:vm). One
 * runtime and context are reused, compiled expressions are cached, and the current scope stays in
 * the VM, so an expression costs a few microseconds. Every evaluation runs under a deadline
 * (interrupt handler) and the runtime's memory limit; a failure is an EXPRESSION_FAILED KilnError
 * and leaves the sandbox usable.
 *
 * Each sandbox owns its WebAssembly module plus a spare one. Very deep recursion or nesting can
 * overflow the host's native stack before QuickJS's own stack check fires; the module is then in
 * an unknown state, so it is dropped whole and the spare takes over (a new spare loads in the
 * background). Synchronous and single-threaded: use one sandbox per worker, not per expression.
 */
export class Sandbox {
  readonly #limits: SandboxLimits;
  #vm: Vm | undefined;
  #spare: QuickJSWASMModule | undefined;
  #loading: Promise<void> | undefined;
  #disposed = false;

  private constructor(limits: SandboxLimits, module: QuickJSWASMModule, spare: QuickJSWASMModule) {
    this.#limits = limits;
    this.#vm = new Vm(module, limits);
    this.#spare = spare;
  }

  /** Loads two QuickJS modules (the working one and a spare) and starts a runtime with the given limits. */
  static async create(options: SandboxOptions = {}): Promise<Sandbox> {
    const limits: SandboxLimits = {
      memoryLimitBytes: options.memoryLimitBytes ?? 64 * 1024 * 1024,
      maxStackBytes: options.maxStackBytes ?? 256 * 1024,
      expressionTimeoutMs: options.expressionTimeoutMs ?? 100,
      scriptTimeoutMs: options.scriptTimeoutMs ?? 5000,
      maxCachedFunctions: options.maxCachedFunctions ?? 2000,
      maxLogLines: options.maxLogLines ?? 1000,
    };
    const [module, spare] = await Promise.all([
      newSandboxModule(limits.memoryLimitBytes),
      newSandboxModule(limits.memoryLimitBytes),
    ]);
    return new Sandbox(limits, module, spare);
  }

  /** Evaluates one JavaScript expression (the text inside `${…}`) and returns its JSON value. */
  evaluate(expression: string, scope: ExpressionScope): SandboxValue {
    return this.#guard("e", expression, scope, (vm) => {
      const fn = this.#compile(vm, "e", expression, scope);
      this.#bindScope(vm, scope);
      const text = this.#call(vm, "e", fn, expression, scope);
      const tag = text.charCodeAt(0);
      if (tag === 117 /* u */) return { value: undefined, secretNames: NO_NAMES };
      if (tag === 118 /* v */) return { value: JSON.parse(text.slice(1)), secretNames: NO_NAMES };
      const [json, names] = JSON.parse(text.slice(1)) as [string | null, string[]];
      return { value: json === null ? undefined : JSON.parse(json), secretNames: Object.freeze(names.sort()) };
    });
  }

  /**
   * Runs a `transform` script: a function body with the scope's names (`input`, `nodes`, …) and a
   * `console` whose lines are returned. Its return value is the result. The script gets its own
   * mutable copy of the scope. A failed script's error carries the lines logged so far in `data.logs`.
   */
  runScript(script: string, scope: ExpressionScope): ScriptValue {
    return this.#guard("s", script, scope, (vm) => {
      const fn = this.#compile(vm, "s", script, scope);
      this.#bindScope(vm, scope);
      let text: string;
      try {
        text = this.#call(vm, "s", fn, script, scope);
      } catch (error) {
        throw this.#withLogs(error, scope);
      }
      const [json, names, logs, dropped] = JSON.parse(text) as [string | null, string[], SandboxLog[], number];
      return {
        value: json === null ? undefined : JSON.parse(json),
        secretNames: names.length === 0 ? NO_NAMES : Object.freeze(names.sort()),
        logs: finishLogs(logs, dropped, scope),
      };
    });
  }

  /** Checks that text compiles as one expression, without running it. */
  checkExpression(expression: string): SyntaxProblem | undefined {
    return this.#guard("e", expression, {}, (vm) => {
      const problem = checkSyntax(vm, expressionWrapper(expression), this.#limits);
      return problem === undefined
        ? undefined
        : { message: expressionSyntaxMessage(vm, expression, problem, this.#limits) };
    });
  }

  /** Checks that text compiles as a script body, without running it. */
  checkScript(script: string): SyntaxProblem | undefined {
    return this.#guard("s", script, {}, (vm) => checkSyntax(vm, scriptWrapper(script), this.#limits));
  }

  /** Resolves once the sandbox is usable again after a crash (when no spare module was left). */
  async ready(): Promise<void> {
    if (this.#vm === undefined && this.#loading === undefined && !this.#disposed) this.#loadSpare();
    await this.#loading;
  }

  /** Frees the QuickJS runtime. The sandbox cannot be used afterwards. */
  dispose(): void {
    this.#disposed = true;
    this.#vm?.dispose();
    this.#vm = undefined;
    this.#spare = undefined;
  }

  /** Runs VM work; a host-level exception (native stack overflow, wasm abort) replaces the module. */
  #guard<T>(kind: "e" | "s", source: string, scope: ExpressionScope, work: (vm: Vm) => T): T {
    if (this.#disposed) throw new KilnError("INTERNAL", "The expression sandbox was disposed");
    const vm = this.#vm;
    if (vm === undefined) {
      this.#loadSpare();
      throw new KilnError("EXPRESSION_FAILED", "The expression sandbox is restarting after a crash; retry shortly", {
        retryable: true,
        data: { reason: "crashed" },
      });
    }
    try {
      return work(vm);
    } catch (error) {
      if (error instanceof KilnError) throw error;
      this.#replaceModule();
      const detail = `overflowed the sandbox's stack or crashed it (${(error as Error).message}); reduce recursion or nesting depth`;
      throw this.#failure(kind, "crashed", detail, source, scope);
    }
  }

  /** Drops the current module without touching it (its state is unknown) and switches to the spare. */
  #replaceModule(): void {
    this.#vm = undefined;
    const spare = this.#spare;
    this.#spare = undefined;
    try {
      if (spare !== undefined) this.#vm = new Vm(spare, this.#limits);
    } catch {
      // Leave #vm unset: calls fail as "restarting" until a fresh module has loaded.
    }
    this.#loadSpare();
  }

  #loadSpare(): void {
    if (this.#loading !== undefined || this.#disposed) return;
    this.#loading = newSandboxModule(this.#limits.memoryLimitBytes)
      .then((module) => {
        if (this.#disposed) return;
        if (this.#vm === undefined) this.#vm = new Vm(module, this.#limits);
        else this.#spare = module;
      })
      .catch(() => {})
      .finally(() => {
        this.#loading = undefined;
      });
  }

  /** The cached compiled function for a source, compiling (and evicting the oldest) when needed. */
  #compile(vm: Vm, kind: "e" | "s", source: string, scope: ExpressionScope): QuickJSHandle {
    const key = kind + source;
    const cached = vm.functions.get(key);
    if (cached !== undefined) return cached;
    vm.deadline = Date.now() + this.#limits.expressionTimeoutMs;
    const wrapped = kind === "e" ? expressionWrapper(source) : scriptWrapper(source);
    const result = vm.context.evalCode(wrapped, kind === "e" ? "expression.js" : "script.js");
    vm.deadline = Number.POSITIVE_INFINITY;
    if (result.error) {
      const message = describeError(vm.context, result.error);
      const line = syntaxLine(vm.context, result.error);
      result.error.dispose();
      const detail =
        kind === "e"
          ? expressionSyntaxMessage(vm, source, { message }, this.#limits)
          : `${message}${line === undefined ? "" : ` (line ${line})`}`;
      throw this.#failure(kind, "syntax", detail, source, scope);
    }
    if (vm.functions.size >= this.#limits.maxCachedFunctions) {
      const [oldestKey, oldest] = vm.functions.entries().next().value as [string, QuickJSHandle];
      oldest.dispose();
      vm.functions.delete(oldestKey);
    }
    vm.functions.set(key, result.value);
    return result.value;
  }

  /**
   * Makes the scope the VM's current binding, unless it already is. Parts and node results are
   * sent only when their identity differs from what was sent before (a node visit sends its input
   * and the one new result, not every earlier output).
   */
  #bindScope(vm: Vm, scope: ExpressionScope): void {
    if (vm.scope === scope) return;
    vm.scope = undefined;
    vm.interrupted = false;
    vm.deadline = Date.now() + this.#limits.scriptTimeoutMs;
    const send = (key: string, value: unknown, fallback: unknown, entry = vm.entry.setPart) => {
      if ((vm.sent.has(key) ? vm.sent.get(key) : NEVER) === value) return;
      const json = JSON.stringify(value ?? fallback) ?? "null";
      this.#callVm(vm, entry, entry === vm.entry.setPart ? [key, json] : [json]);
      vm.sent.set(key, value);
    };
    send("input", scope.input, null);
    send("flow", scope.flow, {});
    send("env", scope.env, {});
    send("run", scope.run, {});
    send("secrets", scope.secrets, {}, vm.entry.setSecrets);
    const nodes = scope.nodes ?? {};
    const ids = Object.keys(nodes);
    for (const id of ids) send(`node:${id}`, nodes[id], null);
    if (ids.length !== vm.nodeIds.length || ids.some((id, i) => id !== vm.nodeIds[i])) {
      this.#callVm(vm, vm.entry.setNodeIds, [JSON.stringify(ids)]);
      const kept = new Set(ids);
      for (const id of vm.nodeIds) if (!kept.has(id)) vm.sent.delete(`node:${id}`);
      vm.nodeIds = ids;
    }
    this.#callVm(vm, vm.entry.bind, []);
    vm.deadline = Number.POSITIVE_INFINITY;
    vm.scope = scope;
  }

  /** Calls a scope entry point with string arguments; a failure means the scope does not fit. */
  #callVm(vm: Vm, entry: QuickJSHandle, args: readonly string[]): void {
    const handles = args.map((arg) => vm.context.newString(arg));
    const result = vm.context.callFunction(entry, vm.context.undefined, ...handles);
    for (const handle of handles) handle.dispose();
    if (!result.error) {
      result.value.dispose();
      return;
    }
    const message = describeError(vm.context, result.error);
    result.error.dispose();
    if (/out of memory/.test(message) || this.#heapExhausted(vm, message)) this.#resetRuntime();
    throw new KilnError(
      "EXPRESSION_FAILED",
      `The flow scope (input, node outputs) could not be loaded into the expression sandbox (${message}); keep node outputs smaller or raise the sandbox memory limit`,
      { data: { reason: "memory" } },
    );
  }

  /** Calls `evaluate` or `runScript` in the VM with a compiled function under a deadline. */
  #call(vm: Vm, kind: "e" | "s", fn: QuickJSHandle, source: string, scope: ExpressionScope): string {
    const timeoutMs = kind === "e" ? this.#limits.expressionTimeoutMs : this.#limits.scriptTimeoutMs;
    vm.interrupted = false;
    vm.deadline = Date.now() + timeoutMs;
    const entry = kind === "e" ? vm.entry.evaluate : vm.entry.runScript;
    const result = vm.context.callFunction(entry, vm.context.undefined, fn);
    vm.deadline = Number.POSITIVE_INFINITY;
    if (!result.error) {
      const text = vm.context.getString(result.value);
      result.value.dispose();
      return text;
    }
    const message = describeError(vm.context, result.error);
    result.error.dispose();
    if (vm.interrupted) {
      throw this.#failure(kind, "timeout", `did not finish within ${timeoutMs} ms`, source, scope);
    }
    if (/out of memory/.test(message) || this.#heapExhausted(vm, message)) {
      this.#resetRuntime();
      throw this.#failure(
        kind,
        "memory",
        `ran out of memory (limit ${this.#limits.memoryLimitBytes} bytes)`,
        source,
        scope,
      );
    }
    throw this.#failure(kind, "error", message, source, scope);
  }

  #failure(kind: "e" | "s", reason: SandboxFailure, detail: string, source: string, scope: ExpressionScope): KilnError {
    const what = kind === "s" ? "Script" : `Expression \`${abbreviate(source)}\``;
    return new KilnError("EXPRESSION_FAILED", maskText(`${what} failed: ${detail}`, scope), {
      data: { reason, source: maskText(abbreviate(source), scope) },
    });
  }

  /** Attaches the console lines a failed script wrote before it failed. */
  #withLogs(error: unknown, scope: ExpressionScope): unknown {
    const vm = this.#vm;
    if (!(error instanceof KilnError) || vm === undefined) return error;
    const result = vm.context.callFunction(vm.entry.takeLogs, vm.context.undefined);
    if (result.error) {
      result.error.dispose();
      return error;
    }
    const [logs, dropped] = JSON.parse(vm.context.getString(result.value)) as [SandboxLog[], number];
    result.value.dispose();
    return new KilnError(error.code, error.message, {
      data: { ...error.data, logs: finishLogs(logs, dropped, scope) },
    });
  }

  /**
   * Whether a failure came from the capped WebAssembly heap being full: QuickJS could not even
   * allocate its out-of-memory error and threw null. (A script's own `throw null` leaves the heap
   * below its cap.)
   */
  #heapExhausted(vm: Vm, message: string): boolean {
    if (message !== "Uncaught null") return false;
    const size = vm.module.getWasmMemory().buffer.byteLength;
    return size + WASM_HEADROOM / 2 >= this.#limits.memoryLimitBytes + WASM_HEADROOM;
  }

  /** A runtime that ran out of memory may hold half-built objects: replace it with a fresh one. */
  #resetRuntime(): void {
    const vm = this.#vm;
    if (vm === undefined) return;
    this.#vm = undefined;
    try {
      vm.dispose();
      this.#vm = new Vm(vm.module, this.#limits);
    } catch {
      this.#replaceModule();
    }
  }
}

function finishLogs(logs: SandboxLog[], dropped: number, scope: ExpressionScope): readonly SandboxLog[] {
  const out = logs.map((log) => ({ level: log.level, message: maskText(log.message, scope) }));
  if (dropped > 0) out.push({ level: "warn", message: `${dropped} more console lines were dropped` });
  return Object.freeze(out);
}
