/**
 * The JavaScript evaluated once inside each QuickJS context of a Sandbox. It keeps the current
 * scope inside the VM (so an expression costs one host→VM call, not one per scope value),
 * records which secrets an expression reads, captures `console` output, and then freezes every
 * reachable intrinsic so that one expression cannot leave state behind for the next, even when
 * one sandbox serves the runs of several namespaces.
 *
 * It returns the object of entry points the host calls: `setScope`, `evaluate`, `runScript`,
 * `takeLogs`. Result encoding of `evaluate` (a string, to cross the boundary once):
 * `"u"` undefined, `"v" + json` a value, `"s" + json([json | null, secretNames])` a value that read secrets.
 */
export function sandboxPrelude(limits: { readonly maxLogLines: number; readonly maxLogLineChars: number }): string {
  return `(function () {
  "use strict";
  const MAX_LOG_LINES = ${limits.maxLogLines};
  const MAX_LOG_LINE_CHARS = ${limits.maxLogLineChars};
  let scopeJson = "{}";
  let scope = Object.freeze({});
  let secrets = Object.freeze({});
  const used = new Set();
  let logs = [];
  let dropped = 0;

  const deepFreeze = (root) => {
    const stack = [root];
    while (stack.length > 0) {
      const value = stack.pop();
      if (typeof value !== "object" || value === null || Object.isFrozen(value)) continue;
      Object.freeze(value);
      for (const key of Object.keys(value)) stack.push(value[key]);
    }
    return root;
  };

  const show = (value) => {
    if (typeof value === "string") return value;
    try {
      const json = JSON.stringify(value);
      return json === undefined ? String(value) : json;
    } catch {
      return String(value);
    }
  };
  const write = (level) => (...args) => {
    if (logs.length >= MAX_LOG_LINES) {
      dropped++;
      return;
    }
    let message = args.map(show).join(" ");
    if (message.length > MAX_LOG_LINE_CHARS) message = message.slice(0, MAX_LOG_LINE_CHARS) + "…";
    logs.push({ level, message });
  };
  Object.defineProperty(globalThis, "console", {
    value: { log: write("info"), info: write("info"), warn: write("warn"), error: write("error"), debug: write("debug") },
    enumerable: false,
  });

  const api = {
    setScope(json, secretsJson) {
      const next = deepFreeze(JSON.parse(json));
      const values = JSON.parse(secretsJson);
      const guarded = {};
      for (const name of Object.keys(values)) {
        const value = values[name];
        Object.defineProperty(guarded, name, {
          enumerable: true,
          get() {
            used.add(name);
            return value;
          },
        });
      }
      scopeJson = json;
      scope = next;
      secrets = Object.freeze(guarded);
    },
    evaluate(fn) {
      used.clear();
      const value = fn(scope.input, scope.flow, scope.nodes, secrets, scope.env, scope.run);
      const json = JSON.stringify(value);
      if (used.size === 0) return json === undefined ? "u" : "v" + json;
      return "s" + JSON.stringify([json === undefined ? null : json, [...used]]);
    },
    runScript(fn) {
      used.clear();
      logs = [];
      dropped = 0;
      // Scripts get a fresh, mutable copy: transforms commonly modify their input and return it.
      const own = JSON.parse(scopeJson);
      const value = fn(own.input, own.flow, own.nodes, secrets, own.env, own.run);
      const json = JSON.stringify(value);
      return JSON.stringify([json === undefined ? null : json, [...used], logs, dropped]);
    },
    takeLogs() {
      const out = JSON.stringify([logs, dropped]);
      logs = [];
      dropped = 0;
      return out;
    },
  };

  // Freeze every intrinsic reachable from globalThis or from syntax (iterators, generators).
  const roots = [
    globalThis,
    Object.getPrototypeOf(function* () {}),
    Object.getPrototypeOf(async function () {}),
    Object.getPrototypeOf(async function* () {}),
    Object.getPrototypeOf((function* () {})()),
    Object.getPrototypeOf([][Symbol.iterator]()),
    Object.getPrototypeOf(new Map()[Symbol.iterator]()),
    Object.getPrototypeOf(new Set()[Symbol.iterator]()),
    Object.getPrototypeOf(""[Symbol.iterator]()),
    Object.getPrototypeOf("a".matchAll(/a/g)),
    api,
  ];
  const seen = new Set();
  const stack = [...roots];
  while (stack.length > 0) {
    const value = stack.pop();
    if ((typeof value !== "object" && typeof value !== "function") || value === null || seen.has(value)) continue;
    seen.add(value);
    Object.freeze(value);
    stack.push(Object.getPrototypeOf(value));
    for (const key of Reflect.ownKeys(value)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key);
      if (descriptor === undefined) continue;
      if ("value" in descriptor) stack.push(descriptor.value);
      else stack.push(descriptor.get, descriptor.set);
    }
  }
  return api;
})()`;
}
