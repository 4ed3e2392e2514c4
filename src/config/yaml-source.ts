import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import type { ConfigProblem, KeyPath } from "./config-problems.ts";
import { type ConfigSource, type ParseSourceOptions, SubstitutionRun } from "./config-source.ts";

/**
 * Parses YAML config text. Load-time variables are substituted in string values (never in keys,
 * never by splicing text, so a value cannot change the document's structure), and positions come
 * from the yaml package's node ranges.
 */
export function parseYamlSource(text: string, options: ParseSourceOptions): ConfigSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, prettyErrors: true, uniqueKeys: true });
  const position = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const problems: ConfigProblem[] = doc.errors.map((error) => ({
    file: options.file,
    line: error.linePos?.[0].line ?? 1,
    column: error.linePos?.[0].col ?? 1,
    path: "",
    message: error.message.split("\n")[0] ?? error.message,
  }));

  const run = new SubstitutionRun(options);
  const walk = (node: unknown, path: KeyPath): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        // A collection as a key (`{{a: 1}: x}`) is named, not stringified: turning it into text
        // evaluates it, and a merge key inside it can throw.
        walk(pair.value, [...path, key !== null && typeof key === "object" ? "<complex key>" : String(key)]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => {
        walk(item, [...path, index]);
      });
    } else if (isScalar(node) && typeof node.value === "string" && node.value.includes("${")) {
      const start = node.range?.[0] ?? 0;
      const base = position(start);
      const block = node.type === "BLOCK_LITERAL" || node.type === "BLOCK_FOLDED";
      const quoted = node.type === "QUOTE_DOUBLE" || node.type === "QUOTE_SINGLE" ? 1 : 0;
      const value = node.value;
      // Best effort inside the scalar: exact for one-line scalars, by line for block scalars.
      const lineOf = (offset: number) => {
        if (!block) return position(start + quoted + offset);
        const before = value.slice(0, offset);
        const newlines = before.split("\n").length - 1;
        return { line: base.line + 1 + newlines, column: offset - before.lastIndexOf("\n") };
      };
      node.value = run.substitute(value, path, base, lineOf);
    }
  };
  walk(doc.contents, []);
  run.finish();

  const locate = (path: KeyPath, target: "key" | "value") => {
    let node: unknown = doc.contents;
    let keyNode: Node | null = null;
    for (const segment of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
        if (!pair) break;
        keyNode = pair.key as Node;
        node = pair.value;
      } else if (isSeq(node) && typeof segment === "number" && node.items[segment] !== undefined) {
        keyNode = null;
        node = node.items[segment];
      } else break;
    }
    const chosen = target === "key" && keyNode ? keyNode : ((node as Node | null) ?? keyNode);
    return position(chosen?.range?.[0] ?? 0);
  };

  return {
    file: options.file,
    data: problems.length > 0 ? null : toData(doc, options.file, problems),
    locate,
    problems,
  };
}

/**
 * The document as plain data. Building it can still fail on a well-formed document (a merge key
 * `<<` of a scalar, too many aliases): that failure becomes a config problem, not an uncoded throw.
 */
function toData(doc: ReturnType<typeof parseDocument>, file: string, problems: ConfigProblem[]): unknown {
  try {
    return doc.toJS({ maxAliasCount: 1000 }) ?? {};
  } catch (error) {
    problems.push({ file, line: 1, column: 1, path: "", message: (error as Error).message });
    return null;
  }
}
