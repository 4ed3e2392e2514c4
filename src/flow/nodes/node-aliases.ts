/** Alternative spellings of node types, resolved when a flow is loaded. */
export const NODE_TYPE_ALIASES: Readonly<Record<string, string>> = Object.freeze({ run: "script" });

/** The canonical name of a node type (aliases resolved). */
export function canonicalNodeType(type: string): string {
  return Object.hasOwn(NODE_TYPE_ALIASES, type) ? (NODE_TYPE_ALIASES[type] as string) : type;
}
