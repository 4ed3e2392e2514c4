import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument, Scalar } from "yaml";
import type { ConfigProblem, KeyPath } from "../../config/config-problems.ts";

/** A 1-based line and column in a flow file. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/** A parsed flow file: its data (null when the YAML is broken) and how to find positions in it. */
export interface FlowYaml {
  readonly file: string;
  readonly data: unknown;
  /** YAML syntax errors (duplicate keys included). */
  readonly problems: readonly ConfigProblem[];
  /** The position of the key or the value at a path (the nearest existing ancestor if it is missing). */
  locate(path: KeyPath, target: "key" | "value"): SourcePosition;
  /** The position of a character of the string value at a path. */
  locateInString(path: KeyPath, offset: number): SourcePosition;
}

/**
 * Parses flow YAML with positions. Unlike config files, flow strings are not substituted here:
 * `${…}` is an expression evaluated per node at run time.
 */
export function parseFlowYaml(text: string, file: string): FlowYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const position = (offset: number): SourcePosition => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const problems: ConfigProblem[] = doc.errors.map((error) => ({
    file,
    ...position(error.pos[0]),
    path: "",
    message: error.message.split("\n")[0] ?? error.message,
  }));

  const find = (path: KeyPath): { node: Node | null; key: Node | null; found: boolean } => {
    let node: unknown = doc.contents;
    let key: Node | null = null;
    for (const segment of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
        if (!pair) return { node: (node as Node) ?? null, key, found: false };
        key = pair.key as Node;
        node = pair.value;
      } else if (isSeq(node) && typeof segment === "number" && node.items[segment] !== undefined) {
        key = null;
        node = node.items[segment];
      } else {
        return { node: (node as Node | null) ?? null, key, found: false };
      }
    }
    return { node: (node as Node | null) ?? null, key, found: true };
  };

  const locate = (path: KeyPath, target: "key" | "value"): SourcePosition => {
    const { node, key, found } = find(path);
    // A missing key is reported at its parent's key (the node that lacks it), else at the parent.
    const chosen = found && target === "value" ? (node ?? key) : (key ?? node);
    return position(chosen?.range?.[0] ?? 0);
  };

  const locateInString = (path: KeyPath, offset: number): SourcePosition => {
    const { node, found } = find(path);
    if (!found || !isScalar(node) || typeof node.value !== "string" || !node.range) {
      return locate(path, "value");
    }
    const start = node.range[0];
    const value = node.value;
    if (node.type === Scalar.BLOCK_LITERAL || node.type === Scalar.BLOCK_FOLDED) {
      // Block content starts on the line after the indicator; lines keep their indentation.
      const before = value.slice(0, offset);
      const line = position(start).line + 1 + (before.split("\n").length - 1);
      const indent = blockIndent(text, start);
      return { line, column: indent + 1 + offset - (before.lastIndexOf("\n") + 1) };
    }
    const raw = text.slice(start, node.range[1]);
    if (raw.includes("\n")) return position(start);
    const quoted = node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE ? 1 : 0;
    return position(start + quoted + offset);
  };

  const data = problems.length > 0 ? null : (doc.toJS({ maxAliasCount: 1000 }) ?? {});
  return { file, data, problems, locate, locateInString };
}

/** The indentation of the first content line of a block scalar whose indicator is at `start`. */
function blockIndent(text: string, start: number): number {
  const newline = text.indexOf("\n", start);
  if (newline === -1) return 0;
  const line = /^[ ]*/.exec(text.slice(newline + 1));
  return line?.[0].length ?? 0;
}
