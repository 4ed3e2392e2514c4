import assert from "node:assert/strict";
import { test } from "node:test";
import { fixture, runInTest } from "./test-helpers.ts";

/** Samples the heap while `fn` runs; returns its result and the peak growth in MB. */
async function withPeakHeap<T>(fn: () => Promise<T>): Promise<{ value: T; peakMb: number }> {
  const base = process.memoryUsage();
  const used = (m: NodeJS.MemoryUsage) => m.heapUsed + m.arrayBuffers;
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, used(process.memoryUsage()) - used(base));
  }, 5);
  try {
    const value = await fn();
    peak = Math.max(peak, used(process.memoryUsage()) - used(base));
    return { value, peakMb: peak / 1024 / 1024 };
  } finally {
    clearInterval(timer);
  }
}

test("a 50 MB stdout streams through with bounded memory; output and logs keep head and tail", async () => {
  const { value, peakMb } = await withPeakHeap(() =>
    runInTest({ command: fixture("big-stdout.py"), args: ["50"], max_output_size_kb: 64, max_log_size_kb: 256 }),
  );
  const { result, ctx } = value;
  assert.equal(result.verdict, "success", result.error?.message);
  const output = result.output as { stdout: string; truncated: boolean };
  assert.equal(output.truncated, true);
  assert.ok(output.stdout.length < 70 * 1024);
  assert.ok(output.stdout.endsWith("THE END"));
  assert.ok(result.stdoutTail.endsWith("THE END"));
  assert.ok(result.logs.size > 50_000_000, `saw ${result.logs.size} chars`);
  const logged = ctx.logs.reduce((sum, l) => sum + l.message.length + 1, 0);
  assert.ok(logged < 260 * 1024, `logged ${logged}`);
  assert.equal(ctx.logs.at(-1)?.message, "THE END");
  // Buffering 50 MB whole would cost at least 50 MB of heap.
  assert.ok(peakMb < 40, `heap grew by ${peakMb.toFixed(1)} MB`);
});

test("a 20 MB line without newline is split, not buffered whole", async () => {
  const { value, peakMb } = await withPeakHeap(() =>
    runInTest({ command: fixture("long-line.sh"), args: ["20"], max_output_size_kb: 64, max_log_size_kb: 256 }),
  );
  assert.equal(value.result.verdict, "success");
  assert.ok((value.result.output as { truncated: boolean }).truncated);
  assert.ok(peakMb < 40, `heap grew by ${peakMb.toFixed(1)} MB`);
});
