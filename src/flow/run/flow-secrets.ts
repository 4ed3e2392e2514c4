import type { Run } from "../../engine/run.ts";
import { KilnError } from "../../errors.ts";
import type { FlowNode } from "../definition/flow-definition.ts";

/**
 * Secrets of a flow run. Names are found statically in what a node evaluates (`secrets.NAME`,
 * `secrets["NAME"]`, `secrets?.NAME`), resolved through the worker's hook only when a node that
 * reads them runs, and every resolved value is masked in whatever the run stores.
 */

/** Resolves one secret of the run's namespace; undefined when there is none. */
export type SecretResolver = (name: string, run: Run) => Promise<string | undefined> | string | undefined;

const REFERENCE =
  /\bsecrets\s*(?:\?\.\s*|\.\s*)(?:([A-Za-z_$][\w$]*)|\[\s*(["'`])([^"'`]+)\2\s*\])|\bsecrets\s*\[\s*(["'`])([^"'`]+)\4\s*\]/g;

/** The secret names referenced in the strings of a value, deeply. */
export function secretNamesIn(value: unknown, into: Set<string> = new Set()): Set<string> {
  if (typeof value === "string") {
    if (!value.includes("secrets")) return into;
    for (const match of value.matchAll(REFERENCE)) {
      const name = match[1] ?? match[3] ?? match[5];
      if (name !== undefined) into.add(name);
    }
  } else if (Array.isArray(value)) {
    for (const item of value) secretNamesIn(item, into);
  } else if (value !== null && typeof value === "object") {
    for (const item of Object.values(value)) secretNamesIn(item, into);
  }
  return into;
}

const namesCache = new WeakMap<FlowNode, readonly string[]>();

/** The secrets a node may read: in its params (code included), its `when`, its compensation. */
export function nodeSecretNames(node: FlowNode): readonly string[] {
  let names = namesCache.get(node);
  if (names === undefined) {
    const found = secretNamesIn(node.params);
    secretNamesIn(node.when, found);
    if (node.compensate !== null) secretNamesIn(node.compensate.params, found);
    names = Object.freeze([...found].sort());
    namesCache.set(node, names);
  }
  return names;
}

/** The secrets resolved so far in one activation, and the values to mask. */
export class SecretCache {
  readonly #resolve: SecretResolver | undefined;
  readonly #run: Run;
  readonly #mask: string[];
  #values: Readonly<Record<string, string>> = Object.freeze({});

  constructor(resolve: SecretResolver | undefined, run: Run, alwaysMasked: readonly string[] = []) {
    this.#resolve = resolve;
    this.#run = run;
    this.#mask = alwaysMasked.filter((value) => value !== "");
  }

  /** The resolved secrets by name (a new frozen object after each resolution, never mutated). */
  get values(): Readonly<Record<string, string>> {
    return this.#values;
  }

  /** Every value to replace by `***` in stored data. */
  get maskValues(): readonly string[] {
    return this.#mask;
  }

  /** Resolves the names not resolved yet; SECRET_NOT_FOUND for a name without a value. */
  async ensure(names: readonly string[]): Promise<void> {
    const missing = names.filter((name) => !Object.hasOwn(this.#values, name));
    if (missing.length === 0) return;
    const resolve = this.#resolve;
    if (resolve === undefined) {
      throw new KilnError(
        "SECRET_NOT_FOUND",
        `The flow reads secret(s) ${missing.join(", ")}, but this worker has no secret store configured`,
        { retryable: false, data: { names: missing } },
      );
    }
    const values = await Promise.all(missing.map(async (name) => [name, await resolve(name, this.#run)] as const));
    const absent = values.filter(([, value]) => value === undefined).map(([name]) => name);
    if (absent.length > 0) {
      throw new KilnError(
        "SECRET_NOT_FOUND",
        `No secret ${absent.map((n) => `"${n}"`).join(", ")} in namespace "${this.#run.namespace}"; set it with \`kiln secret set\``,
        { retryable: false, data: { names: absent } },
      );
    }
    const next: Record<string, string> = { ...this.#values };
    for (const [name, value] of values) {
      next[name] = value as string;
      if (value !== "" && !this.#mask.includes(value as string)) this.#mask.push(value as string);
    }
    this.#values = Object.freeze(next);
  }
}
