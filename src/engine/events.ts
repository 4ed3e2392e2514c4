/** Params of sendEvent. */
export interface SendEventParams {
  readonly namespace: string;
  readonly name: string;
  readonly key?: string | null;
  readonly payload?: unknown;
  /** How long an undelivered event is kept. Default 7 days. */
  readonly retentionMs?: number;
}

/** The event id and the run that received it (null: buffered). */
export interface SendEventResult {
  readonly eventId: string;
  readonly deliveredTo: string | null;
}
