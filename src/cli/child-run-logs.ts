import type { Run } from "../engine/run.ts";
import { isTerminal } from "../engine/status.ts";
import type { CliContext } from "./context.ts";

/** Prints a run's log lines after `afterSeq` (each line prefixed by `label` when given); returns the last seq. */
export type PrintRunLogs = (ctx: CliContext, runId: string, afterSeq: number, label?: string) => Promise<number>;

/**
 * Follows the log lines of a run's descendants (child workflows and task runs, and theirs) while
 * the run is followed, so `--follow` of a workflow shows what its tasks print, each line prefixed
 * with the child's name and short id. The followed run's stream says when it changed (a child
 * ending wakes its parent's step), and its waiter reads at least every few seconds; each read
 * also lists the children of the runs still going and prints their new lines.
 */
export class ChildRunLogs {
  readonly #rootId: string;
  readonly #print: PrintRunLogs;
  /** Every descendant seen: its label and the last log seq printed. */
  readonly #children = new Map<string, { label: string; seq: number; ended: boolean }>();

  constructor(rootId: string, print: PrintRunLogs) {
    this.#rootId = rootId;
    this.#print = print;
  }

  /** Discovers new descendants and prints their new lines; a descendant that ended is printed out once more, then dropped. */
  async printNew(ctx: CliContext): Promise<void> {
    const parents = [this.#rootId, ...[...this.#children].filter(([, c]) => !c.ended).map(([id]) => id)];
    const ended = new Set<string>();
    for (const parentRunId of parents) {
      const page = await ctx.api().get<{ items: Run[] }>("/v1/runs", { parentRunId, limit: 1000 });
      for (const child of page.items) {
        if (!this.#children.has(child.id)) {
          this.#children.set(child.id, { label: `${child.name}/${child.id.slice(-6)}`, seq: 0, ended: false });
        }
        if (isTerminal(child.status)) ended.add(child.id);
      }
    }
    for (const [id, child] of this.#children) {
      if (child.ended) continue;
      child.seq = await this.#print(ctx, id, child.seq, child.label);
      // Read before its lines: a run's lines are all stored by the time it is terminal.
      if (ended.has(id)) child.ended = true;
    }
  }
}
