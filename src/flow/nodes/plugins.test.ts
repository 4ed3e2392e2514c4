// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { z } from "zod";
import { KilnError } from "../../errors.ts";
import { nodeTypeRegistry } from "./node-type.ts";
import type { NodeContext } from "./node-api.ts";
import { loadPlugins, pluginNodeType } from "./plugins.ts";
import { Sandbox } from "../expressions/sandbox.ts";
import { validateFlow } from "../definition/validate-flow.ts";

const sandbox = await Sandbox.create();
after(() => sandbox.dispose());
const dir = mkdtempSync(join(tmpdir(), "kiln-plugins-"));
const isCode = (code: string) => (e: unknown) => e instanceof KilnError && e.code === code;

function context(overrides: Partial<NodeContext> = {}): NodeContext {
  return {
    nodeId: "n",
    stepName: "n",
    input: null,
    run: { id: "r", name: "f", namespace: "default", attempt: 1, version: null },
    signal: new AbortController().signal,
    timeoutMs: null,
    idempotencyKey: "r/n",
    options: {},
    services: {},
    sandbox,
    scope: {},
    rawParams: {},
    log: () => {},
    setAction: () => {},
    ...overrides,
  };
}

describe("loadPlugins", () => {
  test("loads a default export, a factory of the options, and named exports; options reach ctx.options", async () => {
    writeFileSync(join(dir, "one.mjs"), "export default { type: 'acme.one', run: (p) => ({ got: p.x }) };\n");
    writeFileSync(
      join(dir, "factory.mjs"),
      "export default (options) => [{ type: 'acme.greet', run: (p, ctx) => `${ctx.options.greeting}, ${p.name}` }];\n",
    );
    writeFileSync(join(dir, "named.mjs"), "export const type = 'acme.named';\nexport function run() { return 1; }\n");
    const types = await loadPlugins(
      [
        { name: "one", module: join(dir, "one.mjs"), options: {} },
        { name: "greet", module: "./factory.mjs", options: { greeting: "Hello" } },
        { name: "named", module: join(dir, "named.mjs"), options: {} },
      ],
      { baseDir: dir },
    );
    assert.deepEqual(
      types.map((t) => [t.type, t.plugin, t.kind]),
      [
        ["acme.one", "one", "step"],
        ["acme.greet", "greet", "step"],
        ["acme.named", "named", "step"],
      ],
    );
    const greet = types[1];
    assert.equal(await greet?.run({ name: "Ada" }, context({ options: greet.options })), "Hello, Ada");
    assert.equal(nodeTypeRegistry(types).get("acme.one")?.type, "acme.one");
  });

  test("fails with PLUGIN_LOAD_FAILED naming the plugin for a missing module or a bad export", async () => {
    await assert.rejects(
      loadPlugins([{ name: "ghost", module: join(dir, "nope.mjs"), options: {} }]),
      (e: unknown) => isCode("PLUGIN_LOAD_FAILED")(e) && /Plugin "ghost": cannot import/.test((e as Error).message),
    );
    writeFileSync(join(dir, "bad.mjs"), "export default { type: 'has space', run() {} };\n");
    await assert.rejects(loadPlugins([{ name: "bad", module: join(dir, "bad.mjs"), options: {} }]), /node type name/);
    writeFileSync(join(dir, "norun.mjs"), "export default { type: 'acme.norun' };\n");
    await assert.rejects(loadPlugins([{ name: "norun", module: join(dir, "norun.mjs"), options: {} }]), /no run/);
  });

  test("a plugin may not redefine a built-in node type", () => {
    const clash = pluginNodeType({ type: "http.request", run: () => null });
    assert.throws(() => nodeTypeRegistry([clash]), /defined twice/);
  });
});

describe("plugin schemas", () => {
  const ticket = pluginNodeType({
    type: "acme.ticket",
    schema: {
      type: "object",
      required: ["title"],
      additionalProperties: false,
      properties: {
        title: { type: "string", minLength: 3 },
        priority: { type: "integer", minimum: 1, maximum: 5, default: 3 },
        labels: { type: "array", items: { type: "string" } },
      },
    },
    run: (params) => params,
  });
  const types = nodeTypeRegistry([ticket]);
  const problems = (params: string) =>
    validateFlow(`nodes:\n  t:\n    type: acme.ticket\n    params: ${params}\n`, {
      code: sandbox,
      nodeTypes: types,
      file: "f.yaml",
    }).map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`);

  test("params as written are checked at validate time, with their positions", () => {
    assert.deepEqual(problems("{ title: ok, priority: 9 }"), [
      '4:22 nodes.t.params.title: Expected "title" to be a string of at least 3 characters, got "ok"',
      '4:36 nodes.t.params.priority: Expected "priority" to be a number of at most 5, got 9',
    ]);
    assert.deepEqual(problems("{ priority: 2, colour: red }"), [
      '4:5 nodes.t.params.title: Missing required param "title" of acme.ticket (a string)',
      '4:36 nodes.t.params.colour: Unknown param "colour" of acme.ticket',
    ]);
  });

  test("a ${…} value is only checked when the node runs", async () => {
    assert.deepEqual(problems('{ title: "${input.title}", priority: "${input.p}", labels: "${input.labels}" }'), []);
    await assert.rejects(
      async () => ticket.run({ title: "Broken printer", priority: "high" }, context()),
      (e: unknown) =>
        isCode("INVALID_INPUT")(e) && /params\.priority: expected a number, got "high"/.test((e as Error).message),
    );
    assert.deepEqual(await ticket.run({ title: "Broken printer" }, context()), {
      title: "Broken printer",
      priority: 3,
    });
  });

  test("a zod schema works the same way", async () => {
    const zodded = pluginNodeType({
      type: "acme.zod",
      schema: z.object({ count: z.number().int().positive() }),
      run: (params) => params.count,
    });
    const found = validateFlow("nodes:\n  t:\n    type: acme.zod\n    params: { count: -1 }\n", {
      code: sandbox,
      nodeTypes: nodeTypeRegistry([zodded]),
    });
    assert.equal(found.length, 1);
    assert.match(found[0]?.message ?? "", /Expected "count" to be a positive number, got -1/);
    assert.equal(await zodded.run({ count: 2 }, context()), 2);
  });
});
