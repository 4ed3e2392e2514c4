/** What sweep did. */
export interface SweepResult {
  /** Runs past their deadline: timed out, or compensating first. */
  readonly timedOut: number;
  readonly woken: number;
  readonly eventsDeleted: number;
}

/**
 * The engine's housekeeping: deadlines, due timers, expired events. The SQL store implements it;
 * a worker runs it only when it is given one (a remote worker is not: its server sweeps).
 */
export interface Housekeeper {
  /**
   * Times out parked or queued runs past their deadline (`timed_out`, or `compensating` when they
   * have compensable completed steps; runs already cancelling or compensating are left to finish),
   * wakes parked runs whose timer is due, and deletes expired buffered events. Safe to call from
   * many processes at once.
   */
  sweep(p?: Readonly<{ limit?: number }>): Promise<SweepResult>;
}
