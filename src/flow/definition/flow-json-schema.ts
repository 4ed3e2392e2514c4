import { z } from "zod";
import { flowFileSchema } from "./flow-schema.ts";

/** Where the generated flow schema is committed, relative to the repository root. */
export const FLOW_JSON_SCHEMA_PATH = "schema/flow.schema.json";

/**
 * The JSON Schema of a flow file, generated from the zod schemas (the input side: what users may
 * write). Editors use it via `# yaml-language-server: $schema=…/schema/flow.schema.json`.
 */
export function flowJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(flowFileSchema, { io: "input", target: "draft-2020-12", unrepresentable: "any" });
  return { ...schema, $id: "https://kiln.dev/schema/flow.schema.json", title: "Kiln flow" };
}

/** The schema file's exact text (stable key order, trailing newline). */
export function flowJsonSchemaText(): string {
  return `${JSON.stringify(flowJsonSchema(), null, 2)}\n`;
}
