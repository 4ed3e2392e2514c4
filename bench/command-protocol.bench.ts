// Throughput of the stdout `::` command parser on plain lines (the hot path) and on a mix with
// commands. Prints MB/s as the median of 5 runs. Run: node --import tsx bench/command-protocol.bench.ts
import { CommandProtocolParser, type ProtocolCommand } from "../src/exec/command-protocol.ts";

const TOTAL_BYTES = 64 * 1024 * 1024;
const CHUNK = 64 * 1024;
const RUNS = 5;

function makeText(commandEvery: number): string[] {
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < TOTAL_BYTES; i++) {
    const line =
      commandEvery > 0 && i % commandEvery === 0
        ? `::set-output key=row${i % 100}::value %25 ${i}\n`
        : `2024-05-01T12:00:00.000Z INFO processed record ${i} of the nightly backup batch, ok\n`;
    parts.push(line);
    size += line.length;
  }
  const text = parts.join("");
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += CHUNK) chunks.push(text.slice(i, i + CHUNK));
  return chunks;
}

function measure(chunks: readonly string[]): number {
  let lines = 0;
  let commands = 0;
  const parser = new CommandProtocolParser({
    line: () => {
      lines++;
    },
    command: (_: ProtocolCommand) => {
      commands++;
    },
  });
  const bytes = chunks.reduce((sum, c) => sum + c.length, 0);
  const start = process.hrtime.bigint();
  for (const chunk of chunks) parser.push(chunk);
  parser.end();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (lines + commands === 0) throw new Error("nothing parsed");
  return bytes / 1024 / 1024 / seconds;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

for (const [name, every] of [
  ["plain lines", 0],
  ["1 command per 10 lines", 10],
] as const) {
  const chunks = makeText(every);
  measure(chunks); // warm up
  const results = Array.from({ length: RUNS }, () => measure(chunks));
  console.log(
    `command-protocol ${name}: ${median(results).toFixed(0)} MB/s (median of ${RUNS}; runs ${results.map((r) => r.toFixed(0)).join(", ")})`,
  );
}
