// The "start" form of a workflow or task kind: a JSON input editor, checked as JSON (and against
// a flow's input schema's required keys and types) before POST /v1/runs.
import { api } from "./api.js";
import { errorBox, esc } from "./format.js";
import { href, navigate } from "./nav.js";

const TYPES = {
  string: "string",
  number: "number",
  integer: "number",
  boolean: "boolean",
  object: "object",
  array: "object",
};

/** Problems of `input` against the top level of a JSON Schema (required keys, property types). */
export function schemaProblems(schema, input) {
  if (!schema) return [];
  const problems = [];
  if (schema.type === "object" && (input === null || typeof input !== "object" || Array.isArray(input))) {
    return ["the input must be a JSON object"];
  }
  for (const key of schema.required ?? []) if (!(key in (input ?? {}))) problems.push(`"${key}" is required`);
  for (const [key, spec] of Object.entries(schema.properties ?? {})) {
    const want = TYPES[spec?.type];
    if (input && key in input && want && typeof input[key] !== want) problems.push(`"${key}" must be a ${spec.type}`);
  }
  return problems;
}

/** The form's HTML. */
export function startForm(id, example = "{}") {
  return (
    `<form id="${esc(id)}" class="card"><h2>Start a run</h2>` +
    `<label for="${esc(id)}-input">Input (JSON)</label><textarea id="${esc(id)}-input" name="input" spellcheck="false">${esc(example)}</textarea>` +
    '<div class="row"><button type="submit" class="primary">Start</button><span class="muted">Ctrl+Enter</span></div><div class="form-error"></div></form>'
  );
}

/** Wires the form: validates the JSON, starts the run, opens it. */
export function wireStartForm(root, id, { type, name, version, schema }) {
  const form = root.querySelector(`#${id}`);
  const textarea = form.querySelector("textarea");
  const errorBoxEl = form.querySelector(".form-error");
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let input;
    try {
      input = JSON.parse(textarea.value || "null");
    } catch (error) {
      errorBoxEl.innerHTML = errorBox({ code: "INVALID_JSON", message: `The input is not JSON: ${error.message}` });
      return;
    }
    const problems = schemaProblems(schema, input);
    if (problems.length > 0) {
      errorBoxEl.innerHTML = errorBox({
        code: "INVALID_INPUT",
        message: `The input does not match the flow's params: ${problems.join("; ")}`,
      });
      return;
    }
    try {
      const run = await api("/v1/runs", {
        method: "POST",
        body: { type, name, input, ...(version ? { version } : {}) },
      });
      navigate(href(`/runs/${encodeURIComponent(run.id)}`));
    } catch (error) {
      errorBoxEl.innerHTML = errorBox(error);
    }
  });
}
