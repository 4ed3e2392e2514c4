// An example Kiln flow plugin: node types from a plain ES module, no Kiln import needed.
// List it in kiln.yaml under `plugins:`; its `options` arrive in `ctx.options`.
//
// A plugin exports { type, schema, run(params, ctx) } — or a list of them, or (as here) a
// function of the plugin's options that returns them. `schema` is a JSON Schema (or a zod
// schema) of the node's params: `kiln validate` checks the params as written, and the
// interpolated params are checked again before `run` is called.

/** `text.slugify`: turns a title into a URL slug, e.g. "Hello, World!" → "hello-world". */
function slugify(options) {
  const separator = typeof options.separator === "string" ? options.separator : "-";
  return {
    type: "text.slugify",
    description: "Turns text into a URL slug",
    schema: {
      type: "object",
      required: ["text"],
      additionalProperties: false,
      properties: {
        text: { type: "string", minLength: 1 },
        max_length: { type: "integer", minimum: 1, default: 60 },
      },
    },
    run(params, ctx) {
      const slug = params.text
        .normalize("NFKD")
        .replace(/[\u0300-\u036f]/g, "")
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, separator)
        .replace(new RegExp(`^\\${separator}+|\\${separator}+$`, "g"), "")
        .slice(0, params.max_length);
      ctx.log(`slug for ${ctx.nodeId}: ${slug}`);
      return { slug };
    },
  };
}

/** `text.classify`: routes by keyword — it chooses the action, like a condition node. */
const classify = {
  type: "text.classify",
  description: "Chooses the action of the first keyword list that matches the text",
  schema: {
    type: "object",
    required: ["text", "rules"],
    properties: {
      text: { type: "string" },
      rules: { type: "object", additionalProperties: { type: "array", items: { type: "string" } } },
    },
  },
  run(params, ctx) {
    const text = params.text.toLowerCase();
    for (const [action, words] of Object.entries(params.rules)) {
      if (words.some((word) => text.includes(word.toLowerCase()))) {
        ctx.setAction(action);
        return { action, text: params.text };
      }
    }
    return { action: "default", text: params.text };
  },
};

export default (options = {}) => [slugify(options), classify];
