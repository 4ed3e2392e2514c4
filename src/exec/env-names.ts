/** The environment-variable name of an input field or state key: `max-items` → `MAX_ITEMS`. */
export function envKey(key: string): string {
  const name = key.toUpperCase().replace(/[^A-Z0-9_]/g, "_");
  return name === "" ? "_" : name;
}

/** A value as an environment variable or argument: strings as is, everything else as JSON. */
export function envValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === null || value === undefined) return "";
  return JSON.stringify(value);
}

/** Whether a value is a plain object (input fields become env vars or arguments). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
