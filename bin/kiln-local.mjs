// The in-script `kiln` commands: thin clients of the local API on $KILN_API_SOCKET, acting for the
// attempt of $KILN_API_TOKEN (see src/exec/local-api.ts). Plain JavaScript, no TypeScript loader,
// so a script pays ~40 ms per call.
//   kiln step NAME -- cmd …       run cmd once per run; replay its stdout and exit code later
//   kiln sleep NAME DURATION      durable sleep (the script is stopped and re-run on wake)
//   kiln wait-event NAME --event E [--key K] [--timeout D]   durable event wait; prints the payload
//   kiln state get KEY | kiln state set KEY VALUE | kiln state rm KEY
//   kiln output set KEY VALUE     (VALUE parsed as JSON when it is JSON)
//   kiln progress PERCENT [MESSAGE…]
//   kiln log [--level L] MESSAGE…
//   kiln heartbeat
import { spawn } from "node:child_process";
import { request } from "node:http";

export const LOCAL_COMMANDS = new Set(["step", "sleep", "wait-event", "state", "output", "progress", "log", "heartbeat"]);

function fail(code, message) {
  process.stderr.write(`kiln: error ${code}: ${message}\n`);
  process.exit(2);
}

function call(method, path, body) {
  const socketPath = process.env.KILN_API_SOCKET;
  if (!socketPath) fail("INVALID_INPUT", "KILN_API_SOCKET is not set: this command only works inside a Kiln task");
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    // The token names this attempt: the socket is shared by all attempts of the worker process.
    const headers = { authorization: `Bearer ${process.env.KILN_API_TOKEN ?? ""}` };
    if (data) Object.assign(headers, { "content-type": "application/json", "content-length": data.length });
    const req = request(
      { socketPath, path, method, headers },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json;
          try {
            json = text ? JSON.parse(text) : {};
          } catch {
            return reject(new Error(`bad answer from the local API: ${text.slice(0, 200)}`));
          }
          if (res.statusCode >= 400) fail(json?.error?.code ?? "INTERNAL", json?.error?.message ?? text);
          resolve(json);
        });
      },
    );
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });
}

// After `parked`, the executor kills our process group: never hand control back to the script.
const parkForever = () => new Promise(() => setInterval(() => {}, 1 << 30));

function option(args, name) {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const value = args[i + 1];
  if (value === undefined) fail("INVALID_INPUT", `${name} needs a value`);
  args.splice(i, 2);
  return value;
}

const enc = encodeURIComponent;

export async function runLocal(argv) {
  const [command, ...args] = argv;
  switch (command) {
    case "step": {
      const sep = args.indexOf("--");
      const name = args[0];
      const cmd = sep >= 0 ? args.slice(sep + 1) : args.slice(1);
      if (!name || cmd.length === 0) fail("INVALID_INPUT", "usage: kiln step NAME -- command [args…]");
      const found = await call("GET", `/steps/${enc(name)}`);
      if (found.recorded) {
        process.stdout.write(found.stdout);
        process.exit(found.exitCode);
      }
      const child = spawn(cmd[0], cmd.slice(1), { stdio: ["inherit", "pipe", "inherit"] });
      const out = [];
      child.stdout.on("data", (c) => {
        out.push(c);
        process.stdout.write(c);
      });
      const exitCode = await new Promise((resolve) => {
        child.on("error", (e) => {
          process.stderr.write(`kiln step ${name}: ${e.message}\n`);
          resolve(127);
        });
        child.on("close", (code, signal) => resolve(code ?? (signal ? 128 + 9 : 1)));
      });
      await call("POST", `/steps/${enc(name)}`, { stdout: Buffer.concat(out).toString("utf8"), exitCode });
      process.exit(exitCode);
      break;
    }
    case "sleep": {
      const [name, duration] = args;
      if (!name || !duration) fail("INVALID_INPUT", "usage: kiln sleep NAME DURATION (e.g. 30s, 1h)");
      const r = await call("POST", `/sleep/${enc(name)}`, { duration: /^\d+$/.test(duration) ? Number(duration) : duration });
      if (r.status === "parked") await parkForever();
      return 0;
    }
    case "wait-event": {
      const rest = [...args];
      const event = option(rest, "--event");
      const key = option(rest, "--key");
      const timeout = option(rest, "--timeout");
      const name = rest[0];
      if (!name) fail("INVALID_INPUT", "usage: kiln wait-event NAME --event E [--key K] [--timeout D]");
      const r = await call("POST", `/wait-event/${enc(name)}`, { event: event ?? name, key: key ?? null, timeout: timeout ?? null });
      if (r.status === "parked") await parkForever();
      if (r.status === "timeout") {
        process.stderr.write(`kiln wait-event ${name}: timed out\n`);
        return 124;
      }
      process.stdout.write(`${JSON.stringify(r.payload)}\n`);
      return 0;
    }
    case "state": {
      const [verb, key, ...value] = args;
      if (!key || !["get", "set", "rm"].includes(verb)) fail("INVALID_INPUT", "usage: kiln state get KEY | set KEY VALUE | rm KEY");
      if (verb === "get") {
        const r = await call("GET", `/state/${enc(key)}`);
        if (r.value === null) return 1;
        process.stdout.write(`${r.value}\n`);
        return 0;
      }
      await call("PUT", `/state/${enc(key)}`, { value: verb === "rm" ? null : value.join(" ") });
      return 0;
    }
    case "output": {
      const [verb, key, ...value] = args;
      if (verb !== "set" || !key) fail("INVALID_INPUT", "usage: kiln output set KEY VALUE");
      const text = value.join(" ");
      let parsed = text;
      try {
        parsed = JSON.parse(text);
      } catch {}
      await call("POST", "/output", { key, value: parsed });
      return 0;
    }
    case "progress": {
      const [percent, ...message] = args;
      const p = Number(percent);
      if (!Number.isFinite(p)) fail("INVALID_INPUT", "usage: kiln progress PERCENT [MESSAGE]");
      await call("POST", "/progress", { percent: p, ...(message.length ? { message: message.join(" ") } : {}) });
      return 0;
    }
    case "log": {
      const rest = [...args];
      const level = option(rest, "--level") ?? "info";
      await call("POST", "/log", { level, message: rest.join(" ") });
      return 0;
    }
    case "heartbeat":
      await call("POST", "/heartbeat", {});
      return 0;
    default:
      fail("INVALID_INPUT", `unknown in-script command ${command}`);
  }
}
