import type { Readable } from "node:stream";
import type { AttemptRecorder } from "./attempt-recorder.ts";
import { type HeadTail, TailLines } from "./bounded-lines.ts";
import { type CommandsMode, CommandProtocolParser, type ProtocolCommand } from "./command-protocol.ts";
import { LineSplitter } from "./line-splitter.ts";
import type { Masker } from "./masker.ts";

/** How much of stdout and stderr is kept for the result and error data. */
export const TAIL_SIZE = 8 * 1024;

/** Options of reading a script's streams. */
export interface ScriptStreamsOptions {
  readonly recorder: AttemptRecorder;
  readonly masker: Masker;
  /** Where plain stdout lines are captured for the output (null: not captured). */
  readonly capture: HeadTail<string> | null;
  /** Called on every line, command or not (the heartbeat timeout's notion of activity). */
  readonly onActivity: () => void;
  /** Which stdout commands are honoured (default all). */
  readonly commands?: CommandsMode;
}

/**
 * Reads a script's stdout and stderr as they stream: stdout through the command protocol (command
 * lines are consumed), every plain line masked, logged (stdout: info, stderr: warning), kept in a
 * bounded tail and, for stdout, captured for the output. Nothing is buffered whole.
 */
export class ScriptStreams {
  readonly stdoutTail = new TailLines(TAIL_SIZE);
  readonly stderrTail = new TailLines(TAIL_SIZE);
  readonly #options: ScriptStreamsOptions;
  readonly #parser: CommandProtocolParser;
  readonly #stderrLines: LineSplitter;
  /** The open `::group::` title, closed by `::endgroup::`. */
  #group: string | null = null;

  constructor(options: ScriptStreamsOptions) {
    this.#options = options;
    const { masker, recorder, capture, onActivity } = options;
    this.#parser = new CommandProtocolParser(
      {
        line: (line) => {
          onActivity();
          const masked = masker.mask(line);
          this.stdoutTail.push(masked);
          recorder.logMasked("info", masked);
          capture?.push(masked);
        },
        command: (command) => {
          onActivity();
          this.#command(command);
        },
      },
      { mode: options.commands ?? "on" },
    );
    this.#stderrLines = new LineSplitter((line) => {
      onActivity();
      const masked = masker.mask(line);
      this.stderrTail.push(masked);
      recorder.logMasked("warning", masked);
    });
  }

  #command(command: ProtocolCommand): void {
    const recorder = this.#options.recorder;
    switch (command.type) {
      case "log":
        recorder.log(command.level, command.message);
        break;
      case "progress":
        recorder.progress(command.percent, command.message === "" ? null : command.message);
        break;
      case "set-state":
        // A failed write is reported by recorder.settle() when the attempt ends.
        recorder.setState(command.key, command.value).catch(() => {});
        break;
      case "set-output":
        recorder.setOutput(command.key, command.value);
        break;
      case "heartbeat":
        recorder.heartbeat();
        break;
      case "add-mask":
        recorder.addMask(command.value);
        break;
      // Stored as marker lines so every reader (UI, `kiln logs`) sees where a group ends too.
      case "group":
        this.#group = command.title;
        recorder.log("info", `▸ ${command.title}`);
        break;
      case "endgroup":
        if (this.#group === null) break;
        recorder.log("info", `◂ ${this.#group}`);
        this.#group = null;
        break;
    }
  }

  /** Reads stdout until it ends. */
  readStdout(stream: Readable): Promise<void> {
    return this.#read(
      stream,
      (text) => this.#parser.push(text),
      () => this.#parser.end(),
    );
  }

  /** Reads stderr until it ends. */
  readStderr(stream: Readable): Promise<void> {
    return this.#read(
      stream,
      (text) => this.#stderrLines.push(text),
      () => this.#stderrLines.end(),
    );
  }

  #read(stream: Readable, push: (text: string) => void, end: () => void): Promise<void> {
    stream.setEncoding("utf8");
    stream.on("data", push);
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        end();
        resolve();
      };
      stream.once("end", finish);
      stream.once("close", finish);
      stream.once("error", finish);
    });
  }
}
