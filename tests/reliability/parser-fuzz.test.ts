// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
/**
 * The parsers that read text from users and scripts, fuzzed with fast-check: config files (YAML
 * and TOML), the `::` command protocol of script stdout, flow templates and expressions, and the
 * host protocol lines. Each either returns a result or fails with a coded KilnError: no other
 * exception, no hang, and the line-oriented parsers keep their bounds. Prints its figures.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { parseConfig } from "../../src/config/load-config.ts";
import { isKilnError } from "../../src/errors.ts";
import { CommandProtocolParser, type ProtocolCommand } from "../../src/exec/command-protocol.ts";
import { interpolateString } from "../../src/flow/expressions/expressions.ts";
import { Sandbox } from "../../src/flow/expressions/sandbox.ts";
import { parseTemplate } from "../../src/flow/expressions/template.ts";
import { createLineDecoder } from "../../src/runtimes/protocol.ts";
import { FULL, hostileJson, hostileString, NASTY_STRINGS } from "./hostile-input.ts";

const RUNS = FULL ? 5_000 : 300;

/** Counts outcomes; fails on anything thrown that is not a KilnError with a code. */
function outcome(counts: Map<string, number>, fn: () => unknown): void {
  let key = "ok";
  try {
    fn();
  } catch (error) {
    assert.ok(isKilnError(error), `not a KilnError: ${(error as Error)?.stack ?? String(error)}`);
    key = error.code;
  }
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

const figures = (counts: Map<string, number>) => JSON.stringify(Object.fromEntries(counts));

/** Text made of the pieces a parser cares about, so that fuzzing gets past the first character. */
function piecesOf(pieces: readonly string[]): fc.Arbitrary<string> {
  return fc
    .array(fc.oneof(fc.constantFrom(...pieces), hostileString), { maxLength: 30 })
    .map((parts) => parts.join(""));
}

const YAML_PIECES = [
  "worker:",
  "tasks:",
  "\n",
  "\n  ",
  "- kind: ",
  "command: ",
  "args: [",
  "]",
  "{",
  "}",
  ": ",
  "- ",
  "timeout: ",
  "retries: ",
  "&a ",
  "*a",
  "<<: *a",
  "!!binary ",
  "!!js/function ",
  "? ",
  "|\n",
  ">-\n",
  '"',
  "'",
  "${",
  "${VAR:-x}",
  "${secret:X}",
  "%YAML 1.2\n---\n",
  "---\n",
  "concurrency: 1e400",
  "__proto__: ",
  "env: {",
];
const TOML_PIECES = [
  "[worker]\n",
  "[[tasks]]\n",
  'kind = "',
  'command = "',
  "args = [",
  "]",
  '"',
  "'''",
  '"""',
  "=",
  "\n",
  "[",
  "]]",
  "{",
  "}",
  "1979-05-27T07:32:00Z",
  "inf",
  "nan",
  "0x",
  "__proto__ = 1\n",
  "a.b.c = 1\n",
];
const PROTOCOL_PIECES = [
  "::",
  "::set-output name=",
  "::set-state name=",
  "::add-mask::",
  "::error file=",
  "::warning ",
  "::debug::",
  "::group::",
  "::endgroup::",
  "::stop-commands::",
  '::{"outputs":',
  "}::",
  "%0A",
  "%25",
  "%3A",
  "%2C",
  ",",
  "=",
  "\n",
  "\r\n",
  "\r",
];
const TEMPLATE_PIECES = [
  "${",
  "}",
  "$${",
  "`",
  "${`",
  "'",
  '"',
  "/*",
  "*/",
  "//",
  "\n",
  "input.n",
  "secrets.TOKEN",
  "nodes.a.output",
  "constructor.constructor('return this')()",
  "this",
  "globalThis",
  "Object.prototype.x=1",
  "while(true){}",
  "'x'.repeat(1e9)",
  "(()=>{for(;;);})()",
  "new Array(1e9).fill(0)",
  "\\",
  "\\x7d",
  "/}/",
];

describe("parser fuzzing", { timeout: 600_000 }, () => {
  let sandbox: Sandbox;
  before(async () => {
    sandbox = await Sandbox.create({ expressionTimeoutMs: 50, memoryLimitBytes: 16 * 1024 * 1024 });
  });
  after(() => sandbox?.dispose());

  it("config files: YAML and TOML parse or fail with a coded error", () => {
    const counts = new Map<string, number>();
    for (const [file, pieces] of [
      ["kiln.yaml", YAML_PIECES],
      ["kiln.toml", TOML_PIECES],
    ] as const) {
      fc.assert(
        fc.property(piecesOf(pieces), (text) => {
          outcome(counts, () => parseConfig(text, { file, env: {}, baseDir: "/nonexistent-kiln-fuzz" }));
        }),
        { numRuns: RUNS },
      );
    }
    console.log(`parser-fuzz config: ${figures(counts)}`);
  });

  it("the :: command protocol: never throws, never buffers a line beyond its limit", () => {
    let lines = 0;
    let commands = 0;
    const maxLineLength = 256;
    fc.assert(
      fc.property(
        fc.array(piecesOf(PROTOCOL_PIECES), { maxLength: 8 }),
        fc.constantFrom("on", "off", "file-only"),
        (chunks, mode) => {
          const seen: ProtocolCommand[] = [];
          // What is carried over between chunks stays under the limit; a line that arrives whole in
          // one chunk is already in memory and may be handed on as it is.
          const bound = maxLineLength + Math.max(0, ...chunks.map((c) => c.length));
          const parser = new CommandProtocolParser(
            {
              line: (text) => {
                lines++;
                assert.ok(text.length <= bound, `a line of ${text.length} characters was buffered across chunks`);
              },
              command: (command) => seen.push(command),
            },
            { maxLineLength, mode },
          );
          for (const chunk of chunks) parser.push(chunk);
          parser.end();
          if (mode === "off") assert.deepEqual(seen, []);
          commands += seen.length;
        },
      ),
      { numRuns: RUNS * 3 },
    );
    console.log(`parser-fuzz protocol: lines=${lines} commands=${commands}`);
  });

  it("templates: parseTemplate returns parts or a located problem, never throws", () => {
    let ok = 0;
    let refused = 0;
    fc.assert(
      fc.property(piecesOf(TEMPLATE_PIECES), (text) => {
        const parsed = parseTemplate(text);
        if (parsed.ok) ok++;
        else {
          refused++;
          assert.ok(parsed.offset >= 0 && parsed.offset <= text.length, `offset ${parsed.offset} outside the text`);
        }
      }),
      { numRuns: RUNS * 3 },
    );
    console.log(`parser-fuzz templates: parsed=${ok} refused=${refused}`);
  });

  it("expressions: evaluate or fail with EXPRESSION_FAILED (or a template error) within the limits", () => {
    const counts = new Map<string, number>();
    const scope = { input: { n: 3 }, secrets: { TOKEN: "fuzz-secret-value" }, nodes: {} };
    let slowest = 0;
    fc.assert(
      fc.property(piecesOf(TEMPLATE_PIECES), (text) => {
        const started = performance.now();
        outcome(counts, () => interpolateString(sandbox, text, scope));
        slowest = Math.max(slowest, performance.now() - started);
      }),
      { numRuns: FULL ? 2_000 : 150 },
    );
    // The host's globals are untouched whatever the expressions did.
    assert.equal((Object.prototype as Record<string, unknown>).x, undefined);
    console.log(`parser-fuzz expressions: ${figures(counts)} slowest=${Math.round(slowest)}ms`);
  });

  it("host protocol lines: objects with a type become messages, everything else noise", () => {
    let messages = 0;
    let noise = 0;
    const line = fc.oneof(
      hostileJson.map((v) => JSON.stringify(v) ?? ""),
      fc.record({ type: hostileString, id: hostileJson }).map((v) => JSON.stringify(v)),
      fc.constantFrom(...NASTY_STRINGS),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 10 }), fc.integer({ min: 1, max: 50 }), (lines, cut) => {
        const decode = createLineDecoder<{ type: unknown }>(
          (message) => {
            messages++;
            assert.equal(typeof message.type, "string");
          },
          () => noise++,
        );
        const text = lines.join("\n");
        // Chunks split anywhere, as pipes deliver them.
        for (let i = 0; i < text.length; i += cut) decode(text.slice(i, i + cut));
        decode("\n");
      }),
      { numRuns: RUNS * 3 },
    );
    console.log(`parser-fuzz host protocol: messages=${messages} noise=${noise}`);
  });
});
