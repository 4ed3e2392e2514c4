/**
 * Drops the undefined fields of a parsed object, so zod's `a?: T | undefined` fits the store's
 * `a?: T` under exactOptionalPropertyTypes.
 */
export function stripUndefined<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}
