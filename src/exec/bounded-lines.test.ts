import assert from "node:assert/strict";
import { test } from "node:test";
import { formatSize, HeadTail, TailLines } from "./bounded-lines.ts";

test("TailLines keeps the last lines within its size", () => {
  const tail = new TailLines(10);
  for (const line of ["aaaa", "bbbb", "cccc", "dd"]) tail.push(line);
  assert.deepEqual(tail.lines(), ["cccc", "dd"]);
  const huge = new TailLines(4);
  huge.push("0123456789");
  assert.deepEqual(huge.lines(), ["6789"]);
});

test("HeadTail keeps head and tail and counts what it dropped", () => {
  const buffer = new HeadTail<string>({ headSize: 6, tailSize: 6, sizeOf: (s) => s.length + 1 });
  for (let i = 0; i < 10; i++) buffer.push(`l${i}`);
  assert.deepEqual(buffer.head(), ["l0", "l1"]);
  assert.deepEqual(buffer.tail(), ["l8", "l9"]);
  assert.deepEqual(buffer.omitted(), { items: 6, size: 18 });
  assert.equal(buffer.totalSize, 30);
});

test("HeadTail hands head items on at once with onHead", () => {
  const seen: string[] = [];
  const buffer = new HeadTail<string>({
    headSize: 4,
    tailSize: 2,
    sizeOf: (s) => s.length + 1,
    onHead: (s) => seen.push(s),
  });
  for (const s of ["a", "b", "c", "d"]) buffer.push(s);
  assert.deepEqual(seen, ["a", "b"]);
  assert.deepEqual(buffer.head(), []);
  assert.deepEqual(buffer.tail(), ["d"]);
});

test("formatSize", () => {
  assert.equal(formatSize(10), "10 B");
  assert.equal(formatSize(1536), "1.5 KB");
  assert.equal(formatSize(50 * 1024 * 1024), "50 MB");
});
