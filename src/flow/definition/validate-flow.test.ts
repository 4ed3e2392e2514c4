// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { KilnError } from "../../errors.ts";
import { loadFlow } from "./flow-load.ts";
import { nodeTypeRegistry } from "../nodes/node-type.ts";
import { Sandbox } from "../expressions/sandbox.ts";
import { validateFlow } from "./validate-flow.ts";

const sandbox = await Sandbox.create();
after(() => sandbox.dispose());

/** The problems of a flow as `line:column path: message` strings. */
function problems(text: string, options: { plugins?: string[] } = {}): string[] {
  // "pause" is a placeholder node type without params, so graph tests need no node params.
  const nodeTypes = nodeTypeRegistry(["pause", ...(options.plugins ?? [])].map((type) => ({ type })));
  return validateFlow(text, { code: sandbox, file: "f.yaml", nodeTypes }).map(
    (p) => `${p.line}:${p.column} ${p.path}: ${p.message}`,
  );
}

/** Asserts exactly one problem, matching `pattern`, at `line:column`. */
function assertOne(text: string, at: string, pattern: RegExp) {
  const found = problems(text);
  assert.equal(found.length, 1, found.join("\n"));
  assert.ok(found[0]?.startsWith(`${at} `), `expected the problem at ${at}: ${found[0]}`);
  assert.match(found[0] ?? "", pattern);
}

describe("validation: each kind of problem, located", () => {
  test("a valid flow has no problems", () => {
    assert.deepEqual(problems("nodes:\n  a:\n    type: pause\n    next: b\n  b:\n    type: pause\n"), []);
  });

  test("YAML syntax errors", () => {
    const found = problems("nodes:\n  a:\n    type: pause\n   bad: [\n");
    assert.ok(found.length >= 1);
    assert.match(found[0] ?? "", /^\d+:\d+ : /);
    assertOne("nodes:\n  a:\n    type: pause\n  a:\n    type: pause\n", "4:3", /Map keys must be unique/);
  });

  test("schema violations: wrong types, unknown keys with a suggestion, missing keys", () => {
    assertOne(
      "nodes:\n  a:\n    type: pause\n    retry:\n      max_attempts: 0\n",
      "5:21",
      /"max_attempts" to be a number of at least 1, got 0/,
    );
    assertOne("nodes:\n  a:\n    type: pause\n    nxet: b\n", "4:5", /Unknown key "nxet" \(did you mean "next"\?\)/);
    assertOne("nodes:\n  a:\n    params: {}\n", "2:3", /Missing required key "type" \(or "run"\)/);
    assertOne("nodes:\n  a:\n    type: pause\n    timeout: soon\n", "4:14", /"timeout" to be a duration like "30s"/);
    assertOne("max_visits: -1\nnodes:\n  a:\n    type: pause\n", "1:13", /"max_visits" to be a positive whole number/);
    assertOne(
      "metadata:\n  nmae: x\nnodes:\n  a:\n    type: pause\n",
      "2:3",
      /Unknown key "nmae" \(did you mean "name"\?\)/,
    );
    assertOne("nodes:\n  a:\n    type: pause\n    next: 5\n", "4:11", /"next" to be/);
  });

  test("a flow without nodes or steps, or with both", () => {
    assertOne("metadata:\n  name: x\n", "1:1", /needs "nodes".*or "steps"/);
    assertOne("nodes:\n  a: { type: pause }\nsteps:\n  - run: echo\n", "3:1", /either "nodes" or "steps", not both/);
    assertOne("nodes: [1]\n", "1:8", /"nodes" to be a mapping/);
    assertOne("nodes: {}\n", "1:1", /"nodes" to hold at least one node/);
    assertOne("- 1\n", "1:1", /A flow file is a mapping/);
  });

  test("invalid node ids", () => {
    assertOne("nodes:\n  2fast:\n    type: pause\n", "2:3", /node id "2fast"/);
  });

  test("unknown node types, with a suggestion; plugins are known", () => {
    assertOne(
      "nodes:\n  a:\n    type: http.requst\n",
      "3:11",
      /Unknown node type "http.requst" \(did you mean "http.request"\?\)/,
    );
    assert.deepEqual(problems("nodes:\n  a:\n    type: acme.ping\n", { plugins: ["acme.ping"] }), []);
    assert.deepEqual(
      problems("nodes:\n  a:\n    type: run\n    params: { run: echo }\n"),
      [],
      "run is an alias of script",
    );
  });

  test("routes to missing nodes, at the route", () => {
    const text =
      "nodes:\n  a:\n    type: pause\n    next:\n      default: b\n      error: [c, zz]\n  b:\n    type: pause\n  c:\n    type: pause\n";
    const found = problems(text);
    assert.deepEqual(found, [
      '6:18 nodes.a.next.error[1]: Route "error" of node "a" goes to "zz", which is not a node',
    ]);
    assertOne(
      "nodes:\n  a:\n    type: pause\n    next: bb\n  b:\n    type: pause\n",
      "4:11",
      /"bb", which is not a node \(did you mean "b"\?\)/,
    );
  });

  test("needs naming missing nodes or the node itself", () => {
    const text = "nodes:\n  a:\n    type: pause\n  j:\n    type: pause\n    needs: [a, ghost]\n";
    assert.deepEqual(problems(text), ['6:16 nodes.j.needs[1]: Node "j" needs "ghost", which is not a node']);
    const self = "nodes:\n  a:\n    type: pause\n  j:\n    type: pause\n    needs: [a, j]\n";
    assert.deepEqual(problems(self), [
      '4:3 nodes.j: Node "j" is unreachable: no route or needs leads to it from a start node (a)',
      '6:16 nodes.j.needs[1]: Node "j" cannot need itself',
    ]);
  });

  test("a route into a join from a node it does not need", () => {
    const text =
      "nodes:\n  a:\n    type: pause\n    next: j\n  b:\n    type: pause\n    next: j\n  c:\n    type: pause\n    next: j\n  j:\n    type: pause\n    needs: [a, b]\n";
    assertOne(text, "10:11", /Node "j" runs when its needs \[a, b\] have finished; a route from "c" cannot start it/);
  });

  test("no start node", () => {
    assertOne(
      "nodes:\n  a:\n    type: pause\n    next: b\n  b:\n    type: pause\n    next: a\n",
      "1:1",
      /no start node/,
    );
  });

  test("unreachable nodes: an island cycle, a join on an unreachable node", () => {
    const text = [
      "nodes:",
      "  start:",
      "    type: pause",
      "  x:",
      "    type: pause",
      "    next: y",
      "  y:",
      "    type: pause",
      "    next: x",
      "  j:",
      "    type: pause",
      "    needs: [start, x]",
    ].join("\n");
    assert.deepEqual(problems(text), [
      '4:3 nodes.x: Node "x" is unreachable: no route or needs leads to it from a start node (start)',
      '7:3 nodes.y: Node "y" is unreachable: no route or needs leads to it from a start node (start)',
      '10:3 nodes.j: Node "j" is unreachable: no route or needs leads to it from a start node (start)',
    ]);
  });

  test("a compensation node is neither a start node nor unreachable; a missing one is reported", () => {
    const text = "nodes:\n  charge:\n    type: pause\n    compensate: refund\n  refund:\n    type: pause\n";
    assert.deepEqual(problems(text), []);
    assertOne(
      "nodes:\n  charge:\n    type: pause\n    compensate: refnd\n",
      "4:17",
      /Compensation "refnd" of node "charge" is not a node/,
    );
    assertOne("nodes:\n  a:\n    type: pause\n    compensate:\n      type: nope\n", "5:13", /Unknown node type "nope"/);
  });

  test("bad expressions, at the character where they start", () => {
    assertOne(
      'nodes:\n  a:\n    type: pause\n    params:\n      url: "https://x/${input.id +}"\n',
      "5:23",
      /Bad expression \$\{input.id \+\}: SyntaxError: unexpected end of expression/,
    );
    assertOne("nodes:\n  a:\n    type: pause\n    params:\n      list: [ok, 'x ${oops']\n", "5:21", /Unterminated/);
    assertOne(
      "nodes:\n  a:\n    type: pause\n    params:\n      text: |\n        line one\n        and ${1 +} here\n",
      "7:13",
      /Bad expression/,
    );
    assertOne("nodes:\n  a:\n    type: pause\n    when: input.x >\n", "4:11", /Bad expression input.x >/);
    assertOne('nodes:\n  a:\n    type: pause\n    when: "${}"\n', "4:12", /Empty \$\{\} expression/);
  });

  test("type-specific params: transform scripts and condition branches", () => {
    const transform =
      "nodes:\n  t:\n    type: transform\n    params:\n      script: |\n        const a = 1;\n        return a +;\n";
    assertOne(transform, "7:9", /Bad script: SyntaxError.*\(line 2 of the script\)/);
    assertOne(
      "nodes:\n  t:\n    type: transform\n    params: {}\n",
      "4:5",
      /"script" to be a JavaScript function body/,
    );
    const condition = [
      "nodes:",
      "  c:",
      "    type: condition",
      "    params:",
      "      conditions:",
      "        - condition: input.n >",
      "          action: big",
      "        - condition: ${input.ok}",
      "          action: 9bad",
      "      default_action: small",
    ].join("\n");
    assert.deepEqual(problems(condition), [
      "6:22 nodes.c.params.conditions[0].condition: Bad expression input.n >: SyntaxError: unexpected end of expression",
      '9:19 nodes.c.params.conditions[1].action: Expected "action" to be an action name',
    ]);
  });

  test("every problem is reported at once, in file order", () => {
    const text = [
      "max_visits: 0",
      "nodes:",
      "  a:",
      "    type: htp.request",
      "    params: { url: '${input.x +}' }",
      "    next: [b, missing]",
      "  b:",
      "    type: pause",
      "    retry: { max_attempts: 0 }",
      "  island:",
      "    type: pause",
      "    next: island",
    ].join("\n");
    const found = problems(text);
    assert.equal(found.length, 6, found.join("\n"));
    assert.deepEqual(
      found.map((p) => p.split(" ")[0]),
      ["1:13", "4:11", "5:21", "6:15", "9:28", "10:3"],
    );
  });
});

describe("validation: steps shorthand problems point at the steps", () => {
  test("aliases and implicit routes are located on the written keys", () => {
    const text = [
      "steps:",
      "  - id: a",
      "    run: echo hi",
      "    if: input.x >",
      "  - id: b",
      "    uses: nothing",
      "  - id: a",
      "    type: pause",
      "    depends: [ghost]",
      "  - name: no type",
    ].join("\n");
    assert.deepEqual(problems(text), [
      "4:9 steps[0].if: Bad expression input.x >: SyntaxError: unexpected end of expression",
      '5:5 steps[1].type: Missing required key "type" (or "run")',
      '6:5 steps[1].uses: Unknown key "uses" (did you mean "needs"?)',
      '7:9 steps[2].id: Step id "a" is already used by step 1; give each step a unique id',
      '9:15 steps[2].depends[0]: Node "a" needs "ghost", which is not a node',
      '10:5 steps[3].type: Missing required key "type" (or "run")',
    ]);
  });

  test("aliases may not be combined with their key", () => {
    const text = "steps:\n  - run: echo\n    params: {}\n    with: {}\n";
    assert.deepEqual(problems(text), ['4:5 steps[0].with: Give either "params" or its alias "with", not both']);
  });
});

describe("loadFlow errors", () => {
  test("an invalid flow throws one INVALID_CONFIG error with data.errors", () => {
    const text = "nodes:\n  a:\n    type: nope\n    next: zz\n";
    assert.throws(
      () => loadFlow(text, { code: sandbox, file: "bad.yaml" }),
      (error: unknown) => {
        assert.ok(error instanceof KilnError);
        assert.equal(error.code, "INVALID_CONFIG");
        assert.match(
          error.message,
          /^Invalid flow bad.yaml \(2 errors\):\n {2}bad.yaml:3:11 nodes.a.type: Unknown node type/,
        );
        const errors = error.data?.errors as { path: string; line: number; column: number; message: string }[];
        assert.deepEqual(
          errors.map((e) => [e.path, e.line, e.column]),
          [
            ["nodes.a.type", 3, 11],
            ["nodes.a.next", 4, 11],
          ],
        );
        return true;
      },
    );
  });
});
