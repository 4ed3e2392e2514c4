import type { LogLevel } from "../engine/log-level.ts";
import { formatSize, HeadTail } from "./bounded-lines.ts";
import type { LocalApiHandler, StepRecord, WaitOutcome } from "./local-api.ts";
import type { Masker } from "./masker.ts";
import type { ScriptHost } from "./script-host.ts";

interface LogEntry {
  readonly level: LogLevel;
  readonly message: string;
}

/** Options of an attempt recorder. */
export interface AttemptRecorderOptions {
  readonly host: ScriptHost;
  readonly masker: Masker;
  readonly maxLogSize: number;
  /** State saved by earlier attempts. */
  readonly initialState: Readonly<Record<string, string>>;
  /** Cap on the set-output values together (characters); over it they are dropped and the attempt fails. */
  readonly maxOutputSize: number;
  /** Called when a step wait parked the run: the executor stops the script. */
  readonly onParked: () => void;
}

/**
 * Everything one attempt reports, from stdout commands, `$KILN_OUTPUT`/`$KILN_STATE` files and the
 * local API alike: logs (masked, capped with head and tail kept), progress, outputs, state writes
 * (masked, saved in order), durable steps. It is the local API's handler.
 */
export class AttemptRecorder implements LocalApiHandler {
  readonly #host: ScriptHost;
  readonly #masker: Masker;
  readonly #logs: HeadTail<LogEntry>;
  readonly #state: Map<string, string>;
  readonly #stateChanges = new Map<string, string | null>();
  readonly #outputs = new Map<string, unknown>();
  readonly #outputSizes = new Map<string, number>();
  readonly #maxOutputSize: number;
  #outputSize = 0;
  readonly #onParked: () => void;
  readonly #nameCounts = new Map<string, number>();
  #stateWrites: Promise<void> = Promise.resolve();
  #stateError: unknown = null;
  #parked = false;

  constructor(options: AttemptRecorderOptions) {
    this.#host = options.host;
    this.#masker = options.masker;
    this.#state = new Map(Object.entries(options.initialState));
    this.#onParked = options.onParked;
    this.#maxOutputSize = options.maxOutputSize;
    const half = Math.floor(options.maxLogSize / 2);
    this.#logs = new HeadTail<LogEntry>({
      headSize: half,
      tailSize: options.maxLogSize - half,
      sizeOf: (entry) => entry.message.length + 1,
      onHead: (entry) => this.#host.log(entry.level, entry.message),
    });
  }

  /** Whether a durable sleep or wait parked the run. */
  get parked(): boolean {
    return this.#parked;
  }

  log(level: LogLevel, message: string): void {
    this.#logs.push({ level, message: this.#masker.mask(message) });
  }

  /** Logs a message that is already masked (stdout and stderr lines). */
  logMasked(level: LogLevel, message: string): void {
    this.#logs.push({ level, message });
  }

  progress(percent: number | null, message: string | null): void {
    this.#host.progress({ percent, message: message === null ? null : this.#masker.mask(message) });
  }

  heartbeat(): void {
    this.#host.heartbeat();
  }

  addMask(value: string): void {
    this.#masker.add(value);
  }

  getState(key: string): string | null {
    return this.#state.get(key) ?? null;
  }

  /** Saves a state key at once (in order with earlier writes); a failure fails the attempt at the end. */
  setState(key: string, value: string | null): Promise<void> {
    const masked = value === null ? null : this.#masker.mask(value);
    if (masked === null) this.#state.delete(key);
    else this.#state.set(key, masked);
    this.#stateChanges.set(key, masked);
    const write = this.#stateWrites.then(() => this.#host.setState(key, masked));
    this.#stateWrites = write.catch((error: unknown) => {
      this.#stateError ??= error;
    });
    return write;
  }

  setOutput(key: string, value: unknown): void {
    if (this.#outputSize > this.#maxOutputSize) return;
    const size = key.length + (typeof value === "string" ? value.length : (JSON.stringify(value) ?? "").length);
    this.#outputSize += size - (this.#outputSizes.get(key) ?? 0);
    this.#outputSizes.set(key, size);
    if (this.#outputSize > this.#maxOutputSize) {
      this.#outputs.clear();
      return;
    }
    this.#outputs.set(key, value);
  }

  /** The name of the next use of a step name in this attempt: `fetch`, `fetch#2`, … */
  #nextName(name: string): string {
    const count = (this.#nameCounts.get(name) ?? 0) + 1;
    return count === 1 ? name : `${name}#${count}`;
  }

  #consumeName(name: string): string {
    const next = this.#nextName(name);
    this.#nameCounts.set(name, (this.#nameCounts.get(name) ?? 0) + 1);
    return next;
  }

  #recorded(name: string): StepRecord | null {
    const step = this.#host.steps.get(name);
    if (step?.status !== "completed") return null;
    const output = step.output as Partial<StepRecord> | null;
    return { stdout: String(output?.stdout ?? ""), exitCode: Number(output?.exitCode ?? 0) };
  }

  // `kiln step` looks up first: a replayed step uses its name up; a missing one is used up when
  // the CLI records its result after running the command.
  getStep(name: string): StepRecord | null {
    const recorded = this.#recorded(this.#nextName(name));
    if (recorded) this.#consumeName(name);
    return recorded;
  }

  async recordStep(name: string, result: StepRecord): Promise<StepRecord | null> {
    const stepName = this.#consumeName(name);
    const existing = this.#recorded(stepName);
    if (existing) return existing;
    if (result.exitCode !== 0) return null;
    const masked = { stdout: this.#masker.mask(result.stdout), exitCode: 0 };
    await this.#host.steps.complete(stepName, masked);
    return masked;
  }

  async sleep(name: string, durationMs: number): Promise<"done" | "parked"> {
    const outcome = await this.#host.steps.sleep(this.#consumeName(name), durationMs);
    if (outcome === "parked") this.#park();
    return outcome;
  }

  async waitForEvent(
    name: string,
    options: Readonly<{ event: string; key: string | null; timeoutMs: number | null }>,
  ): Promise<WaitOutcome> {
    const outcome = await this.#host.steps.waitForEvent(this.#consumeName(name), options);
    if (outcome.status === "parked") this.#park();
    return outcome.status === "received"
      ? { status: "received", payload: this.#masker.maskDeep(outcome.payload) }
      : { status: outcome.status };
  }

  #park(): void {
    this.#parked = true;
    this.#onParked();
  }

  /** Emits the kept log tail after a marker saying how much was left out. */
  finishLogs(maxLogSizeKb: number): void {
    const omitted = this.#logs.omitted();
    if (omitted.items > 0) {
      this.#host.log(
        "warning",
        `[${omitted.items} log lines (${formatSize(omitted.size)}) omitted: over max_log_size_kb ${maxLogSizeKb}; head and tail kept]`,
      );
    }
    for (const entry of this.#logs.tail()) this.#host.log(entry.level, entry.message);
  }

  /** Log volume of the attempt. */
  logStats(): { readonly size: number; readonly omittedLines: number; readonly omittedSize: number } {
    const omitted = this.#logs.omitted();
    return { size: this.#logs.totalSize, omittedLines: omitted.items, omittedSize: omitted.size };
  }

  /** Waits for every state write; returns the first write error, if any. */
  async settle(): Promise<unknown> {
    await this.#stateWrites;
    return this.#stateError;
  }

  /** Whether the set-output values went over the output cap (they were dropped). */
  get outputsOverflowed(): boolean {
    return this.#outputSize > this.#maxOutputSize;
  }

  /** The set-output values, masked. */
  outputs(): Record<string, unknown> {
    return this.#masker.maskDeep(Object.fromEntries(this.#outputs));
  }

  /** State keys written by this attempt (null: deleted), masked. */
  stateChanges(): Record<string, string | null> {
    return Object.fromEntries(this.#stateChanges);
  }
}
