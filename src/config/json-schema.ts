import { z } from "zod";
import { configSchema } from "./schema.ts";

/** Where the generated schema is committed, relative to the repository root. */
export const JSON_SCHEMA_PATH = "schema/kiln.schema.json";

/**
 * The JSON Schema of a config file, generated from the zod schemas (the input side: what users
 * may write). Editors use it via `# yaml-language-server: $schema=…/schema/kiln.schema.json`.
 */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: "input", target: "draft-2020-12", unrepresentable: "any" });
  return { ...schema, $id: "https://kiln.dev/schema/kiln.schema.json", title: "Kiln configuration" };
}

/** The schema file's exact text (stable key order, trailing newline). */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
