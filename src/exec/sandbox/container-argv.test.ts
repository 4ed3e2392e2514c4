import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { NO_SANDBOX, type ResolvedSandbox } from "../../config/resolve-sandbox.ts";
import { KilnError } from "../../errors.ts";
import { type ContainerLaunch, containerArgv, MEMORY_MARKER } from "./container-argv.ts";
import type { SandboxLayout } from "./sandbox-argv.ts";

const launch: ContainerLaunch = {
  engine: "podman",
  cliArgs: ["--runtime", "runc"],
  podman: true,
  name: "kiln-1-1-abcd",
  runArgs: ["--ulimit", "nproc=4096:4096"],
  envNames: ["KILN_API_TOKEN", "HOME"],
  envValues: { HOME: "/tmp" },
  kilnRoot: "/opt/kiln",
};

function layout(sandbox: Partial<ResolvedSandbox> = {}): SandboxLayout {
  return {
    sandbox: { ...NO_SANDBOX, profile: "docker", ...sandbox },
    argv: ["./job.sh", "--flag"],
    cwd: "/srv/task",
    taskDir: "/srv/task",
    attemptDir: "/tmp/kiln-x/attempt-1.d",
    socket: "/tmp/kiln-x/api.sock",
    socketInside: "/tmp/kiln-x/attempt-1.d/api.sock",
    hidden: [
      { path: "/srv/task/.kiln", directory: true },
      { path: "/etc/kiln.key", directory: false },
    ],
    procsFiles: [],
    root: true,
  };
}

/** The value following a flag, or undefined. */
const after = (argv: readonly string[], flag: string) => argv[argv.indexOf(flag) + 1];

describe("the docker profile's command line", () => {
  test("defaults: a named, removed, init-led container on the host root overlay, read-only, no network, no capabilities", () => {
    const argv = containerArgv(layout(), launch);
    assert.deepEqual(argv.slice(0, 10), [
      "podman",
      "--runtime",
      "runc",
      "run",
      "-i",
      "--rm",
      "--init",
      "--name",
      "kiln-1-1-abcd",
      "--cap-drop=ALL",
    ]);
    for (const flag of ["--read-only", "--network=none", "--http-proxy=false", "--security-opt=no-new-privileges"]) {
      assert.ok(argv.includes(flag), flag);
    }
    assert.equal(after(argv, "--rootfs"), "/:O");
    assert.equal(after(argv, "--tmpfs"), "/tmp:rw,exec,mode=1777,notmpcopyup");
    assert.equal(after(argv, "-w"), "/srv/task");
    assert.equal(after(argv, "--ulimit"), "nproc=4096:4096");
    // The task directory read-only, the attempt's files and the socket writable at their paths.
    assert.ok(argv.includes("/srv/task:/srv/task:ro"));
    assert.ok(argv.includes("/tmp/kiln-x/attempt-1.d:/tmp/kiln-x/attempt-1.d"));
    assert.ok(argv.includes("/tmp/kiln-x/api.sock:/tmp/kiln-x/attempt-1.d/api.sock"));
    // Hidden: a directory becomes an empty read-only tmpfs (podman would copy its contents in), a file /dev/null.
    assert.ok(argv.includes("/srv/task/.kiln:ro,size=4k,notmpcopyup"));
    assert.ok(argv.includes("/dev/null:/etc/kiln.key:ro"));
    // The environment goes by name (values stay off the command line) except where it differs.
    assert.ok(argv.includes("KILN_API_TOKEN"));
    assert.ok(argv.includes("HOME=/tmp"));
    for (const flag of argv) assert.doesNotMatch(flag, /^--(memory|cpus|pids-limit|user)/);
    // The wrapper, then the script's own argv, untouched.
    const wrapper = argv.indexOf("-c");
    assert.equal(argv[wrapper - 1], "/bin/sh");
    assert.match(argv[wrapper + 1] ?? "", new RegExp(MEMORY_MARKER.replace(".", "\\.")));
    assert.deepEqual(argv.slice(wrapper + 2), ["kiln-container", "/tmp/kiln-x/attempt-1.d", "./job.sh", "--flag"]);
  });

  test("options map onto flags: limits, uid, network on, writable paths, image, shared /tmp, writable root", () => {
    const argv = containerArgv(
      layout({
        memoryBytes: 64 * 1024 * 1024,
        cpus: 0.5,
        pids: 32,
        uid: 1000,
        gid: 100,
        network: "on",
        writablePaths: ["/srv/out", "/srv"],
        image: "alpine:3",
        privateTmp: false,
        readOnlyRoot: false,
      }),
      { ...launch, podman: false, engine: "docker", cliArgs: [], runArgs: [] },
    );
    for (const flag of ["--memory=67108864b", "--memory-swap=67108864b", "--cpus=0.5", "--pids-limit=32"]) {
      assert.ok(argv.includes(flag), flag);
    }
    assert.equal(after(argv, "--user"), "1000:100");
    assert.ok(argv.includes("--network=host"));
    assert.ok(!argv.includes("--read-only"));
    assert.ok(!argv.includes("--http-proxy=false"), "docker's CLI has no such flag");
    assert.ok(argv.includes("/tmp:/tmp"), "no private /tmp: the host's");
    assert.ok(argv.includes("/srv/out:/srv/out") && argv.includes("/srv:/srv"));
    // Inside a writable path, the task directory is not mounted again read-only over it.
    assert.ok(!argv.some((a) => a.startsWith("/srv/task:")));
    // An image instead of the host root, with Kiln mounted read-only for `kiln` inside.
    assert.ok(!argv.includes("--rootfs"));
    assert.ok(argv.includes("/opt/kiln:/opt/kiln:ro"));
    assert.equal(argv[argv.indexOf("/bin/sh") - 1], "alpine:3");
  });

  test("network loopback is a network namespace of its own (`none` gives it a loopback)", () => {
    assert.ok(containerArgv(layout({ network: "loopback" }), launch).includes("--network=none"));
  });

  test("a path with a colon cannot be mounted and says so", () => {
    assert.throws(
      () => containerArgv(layout({ writablePaths: ["/srv/a:b"] }), launch),
      (error: unknown) =>
        error instanceof KilnError && error.code === "SANDBOX_FAILED" && /\/srv\/a:b/.test(error.message),
    );
  });
});
