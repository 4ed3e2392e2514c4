import assert from "node:assert/strict";
import { test } from "node:test";
import { BUILTIN_NODE_TYPES, canonicalNodeType, nodeTypeRegistry } from "./node-type.ts";

test("the registry holds the built-ins and plugins, and refuses redefinitions", () => {
  const registry = nodeTypeRegistry([{ type: "acme.ping", description: "Pings" }]);
  assert.equal(registry.size, BUILTIN_NODE_TYPES.length + 1);
  for (const type of ["script", "task", "http.request", "transform", "condition", "sleep", "wait_for_event"]) {
    assert.ok(registry.has(type), type);
  }
  assert.ok(registry.has("acme.ping"));
  assert.throws(() => nodeTypeRegistry([{ type: "transform" }]), /Node type "transform" is defined twice/);
  assert.throws(() => nodeTypeRegistry([{ type: "run" }]), /defined twice/);
});

test("code params are never interpolated", () => {
  const registry = nodeTypeRegistry();
  assert.deepEqual(registry.get("transform")?.rawParams, ["script"]);
  assert.deepEqual(registry.get("condition")?.rawParams, ["conditions"]);
  assert.deepEqual(registry.get("script")?.rawParams, ["run"]);
});

test("aliases", () => {
  assert.equal(canonicalNodeType("run"), "script");
  assert.equal(canonicalNodeType("transform"), "transform");
  assert.equal(canonicalNodeType("constructor"), "constructor");
});
