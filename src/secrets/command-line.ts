import { KilnError } from "../errors.ts";

/**
 * Splits a command line into arguments the way a POSIX shell splits words — whitespace separates,
 * '…' is literal, "…" honours \" and \\, a backslash escapes the next character outside quotes —
 * and does nothing else: no variables, globs, pipes or substitutions. The result is passed to
 * execFile without a shell, so the text can never run anything but the named program.
 */
export function splitCommandLine(text: string): string[] {
  const args: string[] = [];
  let current = "";
  let inWord = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quote === "'") {
      if (ch === "'") quote = null;
      else current += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = null;
      else if (ch === "\\" && (text[i + 1] === '"' || text[i + 1] === "\\")) current += text[++i];
      else current += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (ch === "\\" && i + 1 < text.length) {
      current += text[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) args.push(current);
      current = "";
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (quote !== null) throw new KilnError("INVALID_CONFIG", `Unclosed ${quote} quote in the command: ${text}`);
  if (inWord) args.push(current);
  return args;
}
