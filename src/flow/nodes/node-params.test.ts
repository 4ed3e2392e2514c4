// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { createFlowDeps } from "../run/flow-deps.ts";
import { validateFlowInput } from "../run/flow-input.ts";
import { loadFlow } from "../definition/flow-load.ts";
import { compileFlow, compileFlowSource, validateFlowFile } from "../run/flow-runtime.ts";
import { validateFlow } from "../definition/validate-flow.ts";

const deps = await createFlowDeps();
after(() => deps.dispose());

/** Problems of a one-node flow as `line:column path: message`. */
function problems(node: string): string[] {
  return validateFlow(`nodes:\n  a:\n${node}`, { code: deps.sandbox, file: "f.yaml" }).map(
    (p) => `${p.line}:${p.column} ${p.path}: ${p.message}`,
  );
}

describe("built-in node params are checked before the flow runs", () => {
  test("unknown params (with a suggestion), missing required ones, literal values of the wrong kind", () => {
    assert.deepEqual(problems("    type: http.request\n    params: { urll: 'http://x', timeout: soon }\n"), [
      '4:13 nodes.a.params: Missing required param "url" of http.request (a string)',
      '4:21 nodes.a.params.urll: Unknown param "urll" of http.request (did you mean "url"?). Known params: method, url, headers, query, body, timeout, retries, response, max_response_bytes',
      '4:42 nodes.a.params.timeout: Expected "timeout" to be a duration like "30s" or a number of milliseconds, got "soon"',
    ]);
    assert.deepEqual(problems("    type: http.request\n    params: { url: ftp://x, method: FETCH }\n"), [
      '4:20 nodes.a.params.url: Expected "url" to be an http:// or https:// URL, got "ftp://x"',
      '4:37 nodes.a.params.method: Expected "method" to be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, get, head, post, put, patch, delete, options, got "FETCH"',
    ]);
    assert.deepEqual(problems("    type: sleep\n"), [
      '2:3 nodes.a.params: A sleep node needs exactly one of "duration" or "until"',
    ]);
    assert.deepEqual(problems("    type: task\n    params: { input: 1 }\n"), [
      '4:13 nodes.a.params: Missing required param "kind" of task (a string)',
    ]);
  });

  test("a ${…} value may be of any kind; expressions inside are compiled", () => {
    assert.deepEqual(
      problems("    type: http.request\n    params: { url: '${input.url}', retries: '${input.n}' }\n"),
      [],
    );
    const found = problems("    type: sleep\n    params: { duration: '${input.}' }\n");
    assert.equal(found.length, 1);
    assert.match(found[0] ?? "", /Bad expression/);
  });

  test("model, embeddings and vector nodes declare their params", () => {
    const llm = problems("    type: llm\n    params: { prompt: hi, temprature: 0.2, provider: azure }\n");
    assert.equal(llm.length, 2);
    assert.match(llm.join("\n"), /Unknown param "temprature" of llm \(did you mean "temperature"\?\)/);
    assert.match(llm.join("\n"), /Expected "provider" to be one of openai, anthropic/);
    assert.deepEqual(problems("    type: agent\n    params: { prompt: hi, tools: 3 }\n"), [
      '4:34 nodes.a.params.tools: Expected "tools" to be a list, got 3',
    ]);
    const rag = problems("    type: rag.answer\n    params: { question: q, collection: c, embed: { modle: m } }\n");
    assert.match(rag.join("\n"), /nodes\.a\.params\.embed\.modle: Unknown param "modle" of rag\.answer embed/);
    assert.match(rag.join("\n"), /Missing required param "model" of rag\.answer embed/);
    assert.deepEqual(
      problems("    type: vector.query\n    params: { collection: c, vector: '${input.v}', top_k: 2.5 }\n"),
      ['4:59 nodes.a.params.top_k: Expected "top_k" to be a whole number, got 2.5'],
    );
  });

  test("nodes inside for_each and parallel are checked too, at their own lines", () => {
    const flow = [
      "    type: for_each",
      "    params:",
      "      items: [1, 2]",
      "      do:",
      "        type: http.requets",
      "        params: { url: x }",
      "  b:",
      "    type: parallel",
      "    params:",
      "      branches:",
      "        one: { type: task, params: {} }",
      "        two: { type: for_each, params: { items: [], do: { type: transform, params: { script: x } } } }",
      "",
    ].join("\n");
    assert.deepEqual(problems(flow), [
      '7:15 nodes.a.params.do.type: Unknown node type "http.requets" (did you mean "http.request"?). Known types: agent, condition, email.receive, email.send, embed, http.request, llm, rag.answer, script, sleep, storage.delete, storage.get, storage.list, storage.put, task, transform, vector.query, vector.upsert, wait_for_event, workflow',
      '13:36 nodes.b.params.branches.one.params: Missing required param "kind" of task (a string)',
      "14:22 nodes.b.params.branches.two.type: A for_each node cannot be nested inside another node; route to it from the graph instead",
    ]);
  });

  test("a compensation must be a node that runs in one step", () => {
    const found = problems(
      "    type: transform\n    params: { script: return 1 }\n    compensate: { type: sleep, params: { duration: 1s } }\n",
    );
    assert.equal(found.length, 1);
    assert.match(found[0] ?? "", /^5:25 nodes\.a\.compensate\.type: A compensation cannot be a sleep node/);
  });

  test("a params JSON Schema that cannot be used is reported", () => {
    const found = validateFlow(
      "params: { type: objectt }\nnodes:\n  a: { type: transform, params: { script: return 1 } }\n",
      {
        code: deps.sandbox,
      },
    );
    assert.equal(found.length, 1);
    assert.match(found[0]?.message ?? "", /params JSON Schema cannot be used: .*objectt/);
  });
});

describe("flow input", () => {
  const flow = loadFlow(
    [
      "params:",
      "  type: object",
      "  required: [sku]",
      "  properties:",
      "    sku: { type: string, pattern: '^[A-Z]+-[0-9]+$' }",
      "    qty: { type: integer, minimum: 1, default: 1 }",
      "    tags: { type: array, items: { enum: [red, blue] } }",
      "nodes:",
      "  a: { type: transform, params: { script: return input } }",
      "",
    ].join("\n"),
    { code: deps.sandbox },
  );

  test("defaults are applied; every bad field is named", () => {
    assert.deepEqual(validateFlowInput(flow, { sku: "AB-1" }), { sku: "AB-1", qty: 1 });
    assert.throws(
      () => validateFlowInput(flow, { sku: "ab", qty: 0.5, tags: ["red", "green"] }),
      (e: unknown) => {
        const message = (e as Error).message;
        assert.match(message, /^Invalid input for flow "flow" \(3 problems\)/);
        assert.match(message, /input\.sku: expected text matching/);
        assert.match(message, /input\.qty: expected a whole number, got 0\.5/);
        assert.match(message, /input\.tags\[1\]: expected one of red, blue, got "green"/);
        return true;
      },
    );
  });

  test("no input is an empty object to an object schema", () => {
    assert.throws(() => validateFlowInput(flow, null), /input\.sku: missing \(expected a string\)/);
  });
});

describe("flow runtime", () => {
  const source = "nodes:\n  a: { type: transform, params: { script: return input + 1 } }\n";

  test("compileFlowSource caches by content hash and names the flow after its deployment", () => {
    const first = compileFlowSource(source, "plus-one", deps);
    assert.equal(compileFlowSource(source, "plus-one", deps), first);
    assert.notEqual(compileFlowSource(`${source}\n`, "plus-one", deps), first);
    assert.equal(compileFlow(source, "plus-one", deps).flow.name, "plus-one");
    assert.throws(
      () => compileFlowSource("nodes:\n  a: { type: nope }\n", "bad", deps),
      /bad\.yaml:2:14 nodes\.a\.type: Unknown node type "nope"/,
    );
  });

  test("validateFlowFile reports every problem with file:line, or that the file cannot be read", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-validate-"));
    const path = join(dir, "f.yaml");
    writeFileSync(path, "nodes:\n  a: { type: transform, params: {} }\n  b: { type: slep, next: zz }\n");
    const found = await validateFlowFile(path);
    assert.deepEqual(
      found.map((p) => `${p.line}:${p.column} ${p.message.slice(0, 40)}`),
      [
        '2:25 Expected "script" to be a JavaScript fun',
        '3:14 Unknown node type "slep" (did you mean "',
        '3:26 Route "default" of node "b" goes to "zz"',
      ],
    );
    assert.ok(found.every((p) => p.file === path));
    const missing = await validateFlowFile(join(dir, "missing.yaml"));
    assert.match(missing[0]?.message ?? "", /Cannot read the flow file/);
  });
});
