import { KilnError } from "../errors.ts";

/**
 * `$KILN_OUTPUT` and `$KILN_STATE` files use the `$GITHUB_OUTPUT` format: `key=value` lines and
 * heredocs `key<<DELIM` … `DELIM` for multi-line values.
 */

/** Parses one file's text into key/value pairs, in order (a later key wins when applied). */
export function parseKeyValueFile(text: string, what: string): [string, string][] {
  const pairs: [string, string][] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === "") continue;
    const heredoc = line.indexOf("<<");
    const eq = line.indexOf("=");
    if (heredoc > 0 && (eq < 0 || heredoc < eq)) {
      const key = line.slice(0, heredoc).trim();
      const delimiter = line.slice(heredoc + 2).trim();
      const body: string[] = [];
      let closed = false;
      for (i++; i < lines.length; i++) {
        if (lines[i] === delimiter) {
          closed = true;
          break;
        }
        body.push(lines[i] as string);
      }
      if (!closed || delimiter === "" || key === "") {
        throw new KilnError("INVALID_INPUT", `${what}: the heredoc "${line}" has no closing "${delimiter}" line`);
      }
      pairs.push([key, body.join("\n")]);
    } else if (eq > 0) {
      pairs.push([line.slice(0, eq).trim(), line.slice(eq + 1)]);
    } else {
      throw new KilnError("INVALID_INPUT", `${what}: expected "key=value" or "key<<DELIMITER", got "${line}"`);
    }
  }
  return pairs;
}
