import type { ResolvedTaskKind } from "../config/resolved-config.ts";
import type { StopReason } from "./attempt-verdict.ts";
import { groupAlive, type KillOutcome, killGroup } from "./kill-tree.ts";
import { killProcessesWithEnv } from "./marked-processes.ts";
import type { ScriptStreams } from "./script-streams.ts";
import type { ProcessExit, SpawnedProcess } from "./spawn-process.ts";

/** After the leader exited and its group is gone, how long stdout/stderr may take to drain. */
const DRAIN_MS = 2000;

/** How a supervised process ended. */
export interface Supervised {
  readonly exit: ProcessExit;
  readonly stopReason: StopReason | null;
  readonly kill: KillOutcome | null;
  /** The time limit that fired (the kind's timeout or what was left of the run's deadline). */
  readonly limitMs: number | null;
}

/** What the supervisor watches besides the process. */
export interface SupervisorOptions {
  readonly kind: ResolvedTaskKind;
  readonly signal?: AbortSignal | undefined;
  /** The run's deadline (epoch ms), or null. */
  readonly deadlineAt?: number | null | undefined;
}

/**
 * Watches one script process until its whole group is gone. The time limit (the kind's timeout or
 * the run's deadline, whichever comes first), the heartbeat timeout, the abort signal and parking
 * all stop the group — SIGTERM, grace period, SIGKILL; at once with `timeout_action: kill` or when
 * parked — and leftovers of a script that exited by itself (a backgrounded `sleep 300 &`) are
 * killed too, so no orphan survives the attempt.
 */
export class ProcessSupervisor {
  readonly #kind: ResolvedTaskKind;
  readonly #options: SupervisorOptions;
  #pgid: number | null = null;
  #stopReason: StopReason | null = null;
  #killing: Promise<KillOutcome> | null = null;
  #active = true;

  constructor(options: SupervisorOptions) {
    this.#kind = options.kind;
    this.#options = options;
  }

  /** Records script activity (output, commands, local API calls) for the heartbeat timeout. */
  markActive(): void {
    this.#active = true;
  }

  /** Stops the script's group for a reason (the first reason wins). Before spawn, it applies at spawn. */
  stop(reason: StopReason): void {
    if (this.#stopReason !== null) return;
    this.#stopReason = reason;
    if (this.#pgid !== null) this.#kill(this.#pgid);
  }

  #kill(pgid: number): void {
    const reason = this.#stopReason;
    const force = reason === "parked" || (reason !== "cancel" && this.#kind.timeoutAction === "kill");
    this.#killing = killGroup(pgid, { graceMs: this.#kind.gracePeriodMs, force });
  }

  /** Feeds stdin, reads the streams and waits until the process and its group are gone. */
  async supervise(
    child: SpawnedProcess,
    streams: ScriptStreams,
    stdin: string | null,
    /** The attempt's `KILN_API_TOKEN`: found in the environment of every process it started. */
    attemptToken?: string,
  ): Promise<Supervised> {
    const kind = this.#kind;
    const pgid = child.pid;
    this.#pgid = pgid;
    if (this.#stopReason !== null) this.#kill(pgid);
    if (child.stdin) {
      child.stdin.on("error", () => {}); // EPIPE when the script does not read its input
      child.stdin.end(stdin ?? "");
    }
    let streamsEnded = false;
    const drained = Promise.all([
      streams.readStdout(child.stdout),
      child.stderr ? streams.readStderr(child.stderr) : Promise.resolve(),
    ]).then(() => {
      streamsEnded = true;
    });

    const deadlineAt = this.#options.deadlineAt;
    const deadlineMs = deadlineAt == null ? null : Math.max(0, deadlineAt - Date.now());
    const byDeadline = deadlineMs !== null && (kind.timeoutMs === null || deadlineMs < kind.timeoutMs);
    const limitMs = byDeadline ? deadlineMs : kind.timeoutMs;
    const limit = limitMs === null ? null : setTimeout(() => this.stop(byDeadline ? "deadline" : "timeout"), limitMs);
    const heartbeat = kind.heartbeatTimeoutMs === null ? null : this.#watchHeartbeat(kind.heartbeatTimeoutMs);
    const signal = this.#options.signal;
    const onAbort = () => this.stop("cancel");
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();

    try {
      const exit = await child.exited;
      let kill: KillOutcome | null = this.#killing === null ? null : await this.#killing;
      if (kill === null && groupAlive(pgid)) await killGroup(pgid, { graceMs: 0, force: true });
      else if (kill !== null && !kill.empty) kill = await killGroup(pgid, { graceMs: 0, force: true });
      // Processes that left the group (setsid, a double fork into a new session) are found by the
      // attempt's token in their environment: always when the attempt was stopped, and when its
      // pipes are still held open after the group is gone (only a process outside it can hold them).
      // A detached escapee that closed its pipes after a normal exit is left to the worker's end.
      await Promise.resolve();
      if (attemptToken !== undefined && (this.#stopReason !== null || !streamsEnded)) {
        killProcessesWithEnv("KILN_API_TOKEN", attemptToken);
      }
      // Usually the pipes ended with the group: no drain timer is needed then.
      if (!streamsEnded) await this.#drain(child, drained);
      const stopReason = this.#stopReason;
      const limited = stopReason === "timeout" || stopReason === "deadline";
      return { exit, stopReason, kill, limitMs: limited ? limitMs : null };
    } finally {
      if (limit !== null) clearTimeout(limit);
      if (heartbeat !== null) clearInterval(heartbeat);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  // Checked ten times per timeout from a flag, so that a busy script pays nothing per line.
  #watchHeartbeat(heartbeatMs: number): NodeJS.Timeout {
    let lastActive = Date.now();
    return setInterval(
      () => {
        const now = Date.now();
        if (this.#active) {
          this.#active = false;
          lastActive = now;
        } else if (now - lastActive >= heartbeatMs) this.stop("heartbeat");
      },
      Math.max(10, Math.min(1000, heartbeatMs / 10)),
    );
  }

  // With the group gone the pipes close; only a process that escaped with setsid could hold them.
  async #drain(child: SpawnedProcess, drained: Promise<unknown>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), DRAIN_MS);
    });
    const first = await Promise.race([drained.then(() => "drained" as const), timeout]);
    clearTimeout(timer);
    if (first === "timeout") {
      child.stdout.destroy();
      child.stderr?.destroy();
      await drained;
    }
  }
}
