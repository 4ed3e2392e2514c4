// A tiny read-only highlighter for workflow sources (JS/TS, Python, YAML): comments, strings,
// numbers and keywords. Enough to read code, not a parser.
import { esc } from "./format.js";

const KEYWORDS = new Set(
  "async await function return const let var if else for while of in new class export default import from try catch finally throw def elif None True False true false null type next params nodes".split(
    " ",
  ),
);

/** The source as highlighted HTML (escaped). */
export function highlight(source) {
  const token =
    /(\/\/[^\n]*|#[^\n]*|\/\*[\s\S]*?\*\/)|("(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`)|(\b\d+(?:\.\d+)?\b)|([A-Za-z_]\w*)/g;
  let out = "";
  let last = 0;
  for (const m of source.matchAll(token)) {
    out += esc(source.slice(last, m.index));
    const [text, comment, string, number, word] = m;
    if (comment) out += `<span class="hl-c">${esc(text)}</span>`;
    else if (string) out += `<span class="hl-s">${esc(text)}</span>`;
    else if (number) out += `<span class="hl-n">${esc(text)}</span>`;
    else if (word && KEYWORDS.has(word)) out += `<span class="hl-k">${esc(text)}</span>`;
    else out += esc(text);
    last = m.index + text.length;
  }
  return out + esc(source.slice(last));
}
