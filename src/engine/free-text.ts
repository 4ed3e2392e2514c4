/**
 * NUL characters in free text. PostgreSQL cannot store U+0000 in TEXT (nor as `\u0000` in JSONB),
 * SQLite can: free text (log lines, outputs, errors, progress) has every NUL replaced with U+FFFD
 * before it is stored, on both stores alike, so that one stray byte never fails a write.
 */

/** The text with every U+0000 replaced by U+FFFD (the replacement character). */
export function replaceNul(text: string): string {
  return text.includes("\u0000") ? text.replaceAll("\u0000", "\ufffd") : text;
}

/** JSON text (as JSON.stringify writes it) with every escaped NUL (`\u0000`) replaced by U+FFFD. */
export function replaceNulInJson(json: string): string {
  if (!json.includes("\\u0000")) return json;
  // An escape starts after an even number of backslashes; `\\u0000` is a backslash and "u0000".
  return json.replace(/(?<!\\)((?:\\\\)*)\\u0000/g, "$1\ufffd");
}
