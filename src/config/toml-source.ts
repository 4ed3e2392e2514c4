import { parse, TomlError } from "smol-toml";
import type { ConfigProblem, KeyPath } from "./config-problems.ts";
import { type ConfigSource, type ParseSourceOptions, SubstitutionRun } from "./config-source.ts";

const KEY_PART = String.raw`(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')`;
const DOTTED_KEY = String.raw`${KEY_PART}(?:\s*\.\s*${KEY_PART})*`;
const ARRAY_HEADER = new RegExp(String.raw`^\s*\[\[\s*(${DOTTED_KEY})\s*\]\]`);
const TABLE_HEADER = new RegExp(String.raw`^\s*\[\s*(${DOTTED_KEY})\s*\]`);
const KEY_LINE = new RegExp(String.raw`^(\s*)(${DOTTED_KEY})\s*=`);

function splitKey(dotted: string): string[] {
  const parts: string[] = [];
  const re = new RegExp(KEY_PART, "g");
  for (const match of dotted.matchAll(re)) {
    const part = match[0];
    parts.push(part.startsWith('"') ? (JSON.parse(part) as string) : part.startsWith("'") ? part.slice(1, -1) : part);
  }
  return parts;
}

/**
 * A best-effort map from key paths to lines of TOML text (smol-toml keeps no positions): table
 * headers, `[[array]]` elements and `key =` lines. Values inside inline tables and multi-line
 * arrays map to their key's line.
 */
function indexTomlLines(text: string): Map<string, { line: number; column: number }> {
  const index = new Map<string, { line: number; column: number }>();
  const arrayCounts = new Map<string, number>();
  let table: KeyPath = [];
  let inMultiline = false;
  const resolveHeader = (parts: readonly string[]): (string | number)[] => {
    const out: (string | number)[] = [];
    for (const part of parts) {
      out.push(part);
      const count = arrayCounts.get(JSON.stringify(out));
      if (count !== undefined) out.push(count - 1);
    }
    return out;
  };
  text.split("\n").forEach((raw, i) => {
    const line = i + 1;
    const triples = raw.split('"""').length - 1 + raw.split("'''").length - 1;
    if (inMultiline) {
      if (triples % 2 === 1) inMultiline = false;
      return;
    }
    const arrayMatch = ARRAY_HEADER.exec(raw);
    const tableMatch = arrayMatch ? null : TABLE_HEADER.exec(raw);
    if (arrayMatch?.[1] !== undefined) {
      const parts = splitKey(arrayMatch[1]);
      const parent = resolveHeader(parts.slice(0, -1));
      const arrayPath = [...parent, parts[parts.length - 1] as string];
      const key = JSON.stringify(arrayPath);
      const count = (arrayCounts.get(key) ?? 0) + 1;
      arrayCounts.set(key, count);
      table = [...arrayPath, count - 1];
      index.set(JSON.stringify(table), { line, column: 1 });
      if (!index.has(key)) index.set(key, { line, column: 1 });
    } else if (tableMatch?.[1] !== undefined) {
      table = resolveHeader(splitKey(tableMatch[1]));
      index.set(JSON.stringify(table), { line, column: 1 });
    } else {
      const keyMatch = KEY_LINE.exec(raw);
      if (keyMatch?.[2] !== undefined) {
        index.set(JSON.stringify([...table, ...splitKey(keyMatch[2])]), {
          line,
          column: (keyMatch[1]?.length ?? 0) + 1,
        });
      }
    }
    if (triples % 2 === 1) inMultiline = true;
  });
  return index;
}

/** Parses TOML config text; substitution as for YAML, positions best effort by line. */
export function parseTomlSource(text: string, options: ParseSourceOptions): ConfigSource {
  const lines = indexTomlLines(text);
  const locate = (path: KeyPath) => {
    for (let n = path.length; n > 0; n--) {
      const at = lines.get(JSON.stringify(path.slice(0, n)));
      if (at) return at;
    }
    return { line: 1, column: 1 };
  };
  let data: unknown;
  try {
    data = parse(text);
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    const problem: ConfigProblem = {
      file: options.file,
      line: error.line,
      column: error.column,
      path: "",
      message: (error.message.split("\n")[0] ?? "").replace(/^Invalid TOML document: /, ""),
    };
    return { file: options.file, data: null, locate, problems: [problem] };
  }
  const run = new SubstitutionRun(options);
  const walk = (node: unknown, path: KeyPath): unknown => {
    if (typeof node === "string") return node.includes("${") ? run.substitute(node, path, locate(path)) : node;
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i]));
    if (node !== null && typeof node === "object" && !(node instanceof Date)) {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(node)) out[key] = walk(value, [...path, key]);
      return out;
    }
    return node;
  };
  data = walk(data, []);
  run.finish();
  return { file: options.file, data, locate, problems: [] };
}
