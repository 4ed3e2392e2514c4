import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  CommandProtocolParser,
  escapeData,
  escapeProperty,
  type ProtocolCommand,
  unescapeData,
  unescapeProperty,
} from "./command-protocol.ts";

function parse(text: string, chunkSize = text.length || 1): { lines: string[]; commands: ProtocolCommand[] } {
  const lines: string[] = [];
  const commands: ProtocolCommand[] = [];
  const parser = new CommandProtocolParser({ line: (l) => lines.push(l), command: (c) => commands.push(c) });
  for (let i = 0; i < text.length; i += chunkSize) parser.push(text.slice(i, i + chunkSize));
  parser.end();
  return { lines, commands };
}

describe("command protocol grammar", () => {
  test("plain lines pass through, command lines are consumed", () => {
    const { lines, commands } = parse("hello\n::set-output key=a::1\nworld\n");
    assert.deepEqual(lines, ["hello", "world"]);
    assert.deepEqual(commands, [{ type: "set-output", key: "a", value: "1" }]);
  });

  test("every command of the protocol", () => {
    const { lines, commands } = parse(
      [
        "::log level=warning::careful",
        "::log::default level",
        "::progress percent=50::half way",
        "::set-state key=cursor::42",
        "::set-output key=k::v",
        "::set-output name=legacy::n",
        "::heartbeat::",
        "::add-mask::hunter2",
        "::group::Build",
        "::endgroup::",
        "::debug::d",
        "::notice file=a.sh,line=3::n",
        "::warning::w",
        "::error title=Oops::e",
        "::save-state name=s::gh alias",
      ].join("\n"),
    );
    assert.deepEqual(lines, []);
    assert.deepEqual(commands, [
      { type: "log", level: "warning", message: "careful" },
      { type: "log", level: "info", message: "default level" },
      { type: "progress", percent: 50, message: "half way" },
      { type: "set-state", key: "cursor", value: "42" },
      { type: "set-output", key: "k", value: "v" },
      { type: "set-output", key: "legacy", value: "n" },
      { type: "heartbeat" },
      { type: "add-mask", value: "hunter2" },
      { type: "group", title: "Build" },
      { type: "endgroup" },
      { type: "log", level: "debug", message: "d" },
      { type: "log", level: "notice", message: "n" },
      { type: "log", level: "warning", message: "w" },
      { type: "log", level: "error", message: "e" },
      { type: "set-state", key: "s", value: "gh alias" },
    ]);
  });

  test("level=warn (and other common aliases) is a warning, not info", () => {
    const { commands } = parse(
      "::log level=warn::w1\n::log level=WARN::w2\n::log level=fatal::f\n::log level=bogus::b\n",
    );
    assert.deepEqual(commands, [
      { type: "log", level: "warning", message: "w1" },
      { type: "log", level: "warning", message: "w2" },
      { type: "log", level: "error", message: "f" },
      { type: "log", level: "info", message: "b" },
    ]);
  });

  test("names and property keys are case-insensitive; values keep their case", () => {
    const { commands } = parse("::SET-OUTPUT KEY=MixedCase::Data\n::Log LEVEL=ERROR::x\n");
    assert.deepEqual(commands, [
      { type: "set-output", key: "MixedCase", value: "Data" },
      { type: "log", level: "error", message: "x" },
    ]);
  });

  test("escaping: %25 %0D %0A in data; also %3A %2C in property values", () => {
    const { commands } = parse("::set-output key=a%3Ab%2Cc%25::line1%0Aline2%0D%0A100%25 done %3A stays\n");
    assert.deepEqual(commands, [{ type: "set-output", key: "a:b,c%", value: "line1\nline2\r\n100% done %3A stays" }]);
    // %250A is a literal "%0A", not a newline: %25 is unescaped last.
    assert.equal(unescapeData("%250A"), "%0A");
    assert.equal(unescapeProperty("x%252C"), "x%2C");
    for (const text of ["a%b", "50%\n", "a:b,c\r\nd", "%0A%25"]) {
      assert.equal(unescapeData(escapeData(text)), text);
      assert.equal(unescapeProperty(escapeProperty(text)), text);
    }
  });

  test("properties: several, spaces around keys and names trimmed, values may hold '='", () => {
    const { commands } = parse("::set-state key = k , other=x=y::v\n::log level=info,x=a=b::m\n");
    assert.deepEqual(commands, [
      { type: "set-state", key: "k", value: "v" },
      { type: "log", level: "info", message: "m" },
    ]);
  });

  test("unknown names and malformed commands stay plain lines", () => {
    const input = [
      "::unknown-command::data",
      "::set-output::no key",
      "::progress percent=abc::bad",
      "::no closing",
      ": :not a command",
      " ::indented::x",
      "::",
      "::{not json}::",
      '::{"other":1}::',
    ];
    const { lines, commands } = parse(input.join("\n"));
    assert.deepEqual(commands, []);
    assert.deepEqual(lines, input);
  });

  test("progress is clamped to 0-100 and may be empty", () => {
    const { commands } = parse("::progress percent=150::\n::progress::msg only\n");
    assert.deepEqual(commands, [
      { type: "progress", percent: 100, message: "" },
      { type: "progress", percent: null, message: "msg only" },
    ]);
  });

  test("Kestra-style ::{outputs}:: lines set outputs with JSON values, and may carry logs", () => {
    const { lines, commands } = parse(
      '::{"outputs":{"count":3,"obj":{"a":[1,2]}}}::\n::{"logs":[{"level":"WARN","message":"hm"}]}::\n',
    );
    assert.deepEqual(lines, []);
    assert.deepEqual(commands, [
      { type: "set-output", key: "count", value: 3 },
      { type: "set-output", key: "obj", value: { a: [1, 2] } },
      { type: "log", level: "warning", message: "hm" },
    ]);
  });

  test("stop-commands: everything is a plain line until ::TOKEN::", () => {
    const { lines, commands } = parse(
      [
        "::stop-commands::pause-123",
        "::set-output key=a::1",
        "::pause-124::",
        "::pause-123::",
        "::set-output key=b::2",
      ].join("\n"),
    );
    assert.deepEqual(lines, ["::set-output key=a::1", "::pause-124::"]);
    assert.deepEqual(commands, [{ type: "set-output", key: "b", value: "2" }]);
  });

  test("CRLF line endings, a last line without newline, and chunks split anywhere", () => {
    const text = "a\r\n::set-output key=k::v\r\nb";
    for (const size of [1, 2, 3, 5, 100]) {
      const { lines, commands } = parse(text, size);
      assert.deepEqual(lines, ["a", "b"], `chunk ${size}`);
      assert.deepEqual(commands, [{ type: "set-output", key: "k", value: "v" }], `chunk ${size}`);
    }
  });

  test("a line longer than the limit is handed on in pieces (memory stays bounded)", () => {
    const lines: string[] = [];
    const parser = new CommandProtocolParser({ line: (l) => lines.push(l), command: () => {} }, { maxLineLength: 10 });
    parser.push("x".repeat(25));
    parser.push("y\n");
    parser.end();
    assert.deepEqual(lines, ["x".repeat(10), "x".repeat(10), `${"x".repeat(5)}y`]);
  });
});
