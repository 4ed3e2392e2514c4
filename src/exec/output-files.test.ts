import assert from "node:assert/strict";
import { test } from "node:test";
import { parseKeyValueFile } from "./output-files.ts";

test("$GITHUB_OUTPUT format: key=value and heredocs", () => {
  const text = "a=1\nb=has=equals\n\nmulti<<EOF\nline 1\nline 2\nEOF\nempty=\nc<<X\nX\n";
  assert.deepEqual(parseKeyValueFile(text, "$KILN_OUTPUT"), [
    ["a", "1"],
    ["b", "has=equals"],
    ["multi", "line 1\nline 2"],
    ["empty", ""],
    ["c", ""],
  ]);
});

test("an unterminated heredoc or a line without = is a clear error", () => {
  assert.throws(() => parseKeyValueFile("k<<EOF\nno end\n", "$KILN_OUTPUT"), /no closing "EOF"/);
  assert.throws(() => parseKeyValueFile("just text\n", "$KILN_STATE"), /\$KILN_STATE: expected "key=value"/);
});
