/**
 * The JavaScript evaluated once inside each QuickJS context of a Sandbox. It keeps the scope
 * inside the VM as JSON texts, sent only when they change (the host tracks what it sent by object
 * identity) and parsed lazily, once per binding, when an expression first reads them. So a node
 * visit pays for the parts its expressions read, not for every earlier node's output, and an
 * expression costs one host→VM call. Each binding parses its own (frozen) copies, so nothing one
 * binding holds can reach another (another node, another run). It records which
 * secrets an expression reads, captures `console` output, and then freezes every reachable
 * intrinsic so that one expression cannot leave state behind for the next, even when one sandbox
 * serves the runs of several namespaces.
 *
 * It returns the entry points the host calls: `setPart`, `setNodeIds`, `setSecrets`, `bind`,
 * `evaluate`, `runScript`, `takeLogs`. Compiled functions take one argument, the binding, and read
 * the scope names they use from it. Result encoding of `evaluate` (a string, to cross the boundary
 * once): `"u"` undefined, `"v" + json` a value, `"s" + json([json | null, secretNames])` a value
 * that read secrets.
 */
export function sandboxPrelude(limits: { readonly maxLogLines: number; readonly maxLogLineChars: number }): string {
  return `(function () {
  "use strict";
  const MAX_LOG_LINES = ${limits.maxLogLines};
  const MAX_LOG_LINE_CHARS = ${limits.maxLogLineChars};
  const PARTS = ["input", "flow", "env", "run"];
  const texts = new Map(PARTS.map((part) => [part, part === "input" ? "null" : "{}"]));
  let nodeIds = [];
  let secrets = Object.freeze({});
  let current;
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
  const lazy = (key, frozen) => {
    let parsed = false;
    let value;
    return () => {
      if (!parsed) {
        value = JSON.parse(texts.get(key));
        if (frozen) deepFreeze(value);
        parsed = true;
      }
      return value;
    };
  };
  // Expression bindings are frozen, so an expression cannot change what the next one of the same
  // node visit reads; a script's binding is its own, mutable copy.
  const makeScope = (frozen) => {
    const scope = {};
    for (const part of PARTS) Object.defineProperty(scope, part, { get: lazy(part, frozen), enumerable: true });
    const nodes = {};
    for (const id of nodeIds) Object.defineProperty(nodes, id, { get: lazy("node:" + id, frozen), enumerable: true });
    Object.defineProperty(scope, "nodes", { value: nodes, enumerable: true });
    Object.defineProperty(scope, "secrets", { value: secrets, enumerable: true });
    return scope;
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
    setPart(key, json) {
      texts.set(key, json);
    },
    setNodeIds(json) {
      const next = JSON.parse(json);
      const keep = new Set(next);
      for (const id of nodeIds) if (!keep.has(id)) texts.delete("node:" + id);
      nodeIds = next;
    },
    setSecrets(json) {
      const values = JSON.parse(json);
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
      secrets = Object.freeze(guarded);
    },
    bind() {
      current = makeScope(true);
    },
    evaluate(fn) {
      used.clear();
      const value = fn(current);
      const json = JSON.stringify(value);
      if (used.size === 0) return json === undefined ? "u" : "v" + json;
      return "s" + JSON.stringify([json === undefined ? null : json, [...used]]);
    },
    runScript(fn) {
      used.clear();
      logs = [];
      dropped = 0;
      // Scripts get a binding of their own: transforms commonly modify their input and return it.
      const value = fn(makeScope(false));
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
