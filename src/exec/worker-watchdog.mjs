#!/usr/bin/env node
// The worker's watchdog: one small process per worker process, in its own process group, holding
// the read end of a pipe from the worker. When the worker dies (even by SIGKILL) the pipe closes
// and the watchdog SIGKILLs every script process the worker started (found by the KILN_WORKER_ID
// in their environment), so no script outlives its worker. At start it also kills scripts of
// workers that died before a watchdog existed for them (their KILN_WORKER_ID names a dead pid).
// Plain JavaScript with no imports beyond node:, so it starts in tens of milliseconds.
import { readdirSync, readFileSync } from "node:fs";

const workerId = process.argv[2] ?? "";
const NAME = "KILN_WORKER_ID=";

function scan(visit) {
  for (const entry of readdirSync("/proc")) {
    const code = entry.charCodeAt(0);
    if (code < 48 || code > 57 || Number(entry) === process.pid) continue;
    let environ;
    try {
      environ = readFileSync(`/proc/${entry}/environ`, "latin1");
    } catch {
      continue;
    }
    let at = 0;
    if (!environ.startsWith(NAME)) {
      const i = environ.indexOf(`\0${NAME}`);
      if (i < 0) continue;
      at = i + 1;
    }
    const start = at + NAME.length;
    const end = environ.indexOf("\0", start);
    visit(Number(entry), environ.slice(start, end < 0 ? undefined : end));
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
}

function kill(pid) {
  try {
    process.kill(pid, "SIGKILL");
  } catch {}
}

// Scripts of workers that are gone (their id is "<pid>.<random>").
scan((pid, id) => {
  const owner = Number(id.split(".")[0]);
  if (id !== workerId && Number.isInteger(owner) && owner > 0 && !alive(owner)) kill(pid);
});

process.stdin.resume();
process.stdin.on("error", () => {});
process.stdin.on("close", () => {
  scan((pid, id) => {
    if (id === workerId) kill(pid);
  });
  process.exit(0);
});
