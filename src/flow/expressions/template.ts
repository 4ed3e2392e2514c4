// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
/**
 * Splits strings with `${…}` expressions into literal text and expression sources. The end of
 * an expression is found by matching braces while skipping JavaScript strings, template literals
 * (with nested `${…}`) and comments, so `${ {a: "}"}.a }` is one expression. `$${` writes a
 * literal `${`. A `}` inside a regular-expression literal must be written `\x7d` or `\u007d`.
 */

/** A piece of a template: literal text, or an expression with its offset (of `${`) in the string. */
export type TemplatePart =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "expression"; readonly source: string; readonly offset: number };

/** A parsed template, or why it cannot be parsed and where (offset in the string). */
export type ParsedTemplate =
  | { readonly ok: true; readonly parts: readonly TemplatePart[] }
  | { readonly ok: false; readonly message: string; readonly offset: number };

/** Whether a string contains anything to interpolate (a cheap test before parsing). */
export function hasTemplate(text: string): boolean {
  return text.includes("${");
}

/** Parses a string into literal text and `${…}` expressions. */
export function parseTemplate(text: string): ParsedTemplate {
  const parts: TemplatePart[] = [];
  let literal = "";
  let index = 0;
  while (index < text.length) {
    const open = text.indexOf("${", index);
    if (open === -1) {
      literal += text.slice(index);
      break;
    }
    if (open > 0 && text[open - 1] === "$") {
      // `$${` is an escaped, literal `${`.
      literal += `${text.slice(index, open - 1)}\${`;
      index = open + 2;
      continue;
    }
    literal += text.slice(index, open);
    const close = findExpressionEnd(text, open + 2);
    if (close === -1) return { ok: false, message: "Unterminated ${…} expression: missing }", offset: open };
    const source = text.slice(open + 2, close);
    if (source.trim() === "") return { ok: false, message: "Empty ${} expression", offset: open };
    if (literal !== "") parts.push({ kind: "text", text: literal });
    literal = "";
    parts.push({ kind: "expression", source, offset: open });
    index = close + 1;
  }
  if (literal !== "") parts.push({ kind: "text", text: literal });
  return { ok: true, parts };
}

/** The index of the `}` closing an expression that starts at `start`, or -1. */
function findExpressionEnd(text: string, start: number): number {
  // Each entry is what we are inside: "{" a brace (the outermost is the `${` itself), "`" a template literal.
  const stack: string[] = ["{"];
  let i = start;
  while (i < text.length) {
    const ch = text[i] as string;
    const top = stack[stack.length - 1];
    if (top === "`") {
      if (ch === "\\") i += 2;
      else if (ch === "`") {
        stack.pop();
        i++;
      } else if (ch === "$" && text[i + 1] === "{") {
        stack.push("{");
        i += 2;
      } else i++;
      continue;
    }
    if (ch === '"' || ch === "'") {
      i = skipString(text, i, ch);
      if (i === -1) return -1;
    } else if (ch === "`") {
      stack.push("`");
      i++;
    } else if (ch === "/" && text[i + 1] === "/") {
      const newline = text.indexOf("\n", i);
      if (newline === -1) return -1;
      i = newline + 1;
    } else if (ch === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      if (end === -1) return -1;
      i = end + 2;
    } else if (ch === "{") {
      stack.push("{");
      i++;
    } else if (ch === "}") {
      stack.pop();
      if (stack.length === 0) return i;
      i++;
    } else i++;
  }
  return -1;
}

/** The index after the closing quote of a string literal starting at `start`, or -1. */
function skipString(text: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < text.length) {
    const ch = text[i];
    if (ch === "\\") i += 2;
    else if (ch === quote) return i + 1;
    else if (ch === "\n") return -1;
    else i++;
  }
  return -1;
}
