/**
 * The runtime of workflow source read from stdin (no file extension to go by), from what its
 * lines look like: Python (`def workflow(`, `import os`, `from x import y`), a YAML flow
 * (top-level `nodes:`), else undefined (the caller's default, JavaScript). Only lines that cannot
 * be JavaScript count, so a JS file that mentions Python in a string stays JS.
 */
export function detectRuntime(source: string): "python" | "flow" | undefined {
  const python =
    /^(?:async\s+)?def\s+\w+\s*\([^)]*\)\s*(?:->[^:\n]+)?:\s*(?:#.*)?$|^from\s+[\w.]+\s+import\s+[\w*(]|^import\s+[\w.]+(?:\s+as\s+\w+)?(?:\s*,\s*[\w.]+(?:\s+as\s+\w+)?)*\s*(?:#.*)?$/m;
  if (python.test(source)) return "python";
  if (/^nodes:/m.test(source) && !/^\s*(?:function|const|let|export|import)\b/m.test(source)) return "flow";
  return undefined;
}
