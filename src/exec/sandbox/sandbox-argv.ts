import { dirname } from "node:path";
import type { ResolvedSandbox } from "../../config/resolve-sandbox.ts";

/**
 * The command lines that start a script inside a sandbox. Every profile starts with a small
 * POSIX-shell leader, the process-group leader the supervisor signals: it joins the attempt's
 * cgroups (so the limits hold from the first instruction), starts the sandbox in the background
 * and waits for it, surviving SIGTERM itself (the whole group gets the signal, the script inside
 * reacts to it) so that the grace period works as it does unsandboxed; the final SIGKILL reaches
 * every process of the group, those in the sandbox's pid namespace included (and `unshare
 * --kill-child` ends that namespace with its leader). Paths reach the shell as positional
 * arguments or single-quoted, never spliced unquoted.
 */

/** What one sandboxed attempt needs mounted and joined. */
export interface SandboxLayout {
  readonly sandbox: ResolvedSandbox;
  /** The command to run inside (executable first). */
  readonly argv: readonly [string, ...string[]];
  /** The script's working directory (absolute). */
  readonly cwd: string;
  /** The task's directory (its config file's): mounted so that its scripts can be read. */
  readonly taskDir: string;
  /** The attempt's own directory (input, output and state files), writable. */
  readonly attemptDir: string;
  /** The worker's local API socket, and the path inside the attempt directory it is mounted on. */
  readonly socket: string;
  readonly socketInside: string;
  /** Paths to hide that exist: directories get an empty read-only tmpfs, files /dev/null. */
  readonly hidden: readonly { readonly path: string; readonly directory: boolean }[];
  /** cgroup.procs files the leader joins. */
  readonly procsFiles: readonly string[];
  /** Whether the worker runs as root (capabilities must then be dropped explicitly). */
  readonly root: boolean;
}

/** Quotes a string for a POSIX shell. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

// The leader: join cgroups, then run "$@" in the background with the real stdin (a background job
// of a non-interactive shell otherwise reads /dev/null), and wait for it through signals.
function leader(procsFiles: readonly string[], inner: readonly string[]): [string, ...string[]] {
  const join = procsFiles.map((f) => `echo $$ > ${shellQuote(f)} || exit 125`).join("\n");
  const script = `${join}
trap : TERM INT HUP
exec 3<&0
"$@" <&3 3<&- &
child=$!
exec 3<&-
while :; do wait "$child"; rc=$?; kill -0 "$child" 2>/dev/null || break; done
exit "$rc"`;
  return ["/bin/sh", "-c", script, "kiln-sandbox", ...inner];
}

// The command that switches to the sandbox's uid (and drops every capability) just before the script.
function dropPrivileges(sandbox: ResolvedSandbox, root: boolean): string[] {
  if (sandbox.uid !== null) {
    return [
      "setpriv",
      `--reuid=${sandbox.uid}`,
      `--regid=${sandbox.gid ?? sandbox.uid}`,
      "--clear-groups",
      "--inh-caps=-all",
      "--bounding-set=-all",
      "--",
    ];
  }
  // root keeps its uid but loses every capability, so it cannot undo the mounts or leave the cgroup.
  return root ? ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"] : [];
}

/** Paths the script reads (task dir, working dir) or writes, deduplicated, outermost first. */
function uniquePaths(paths: readonly string[]): string[] {
  return [...new Set(paths)].sort((a, b) => a.length - b.length);
}

/** The bubblewrap command line of an attempt. */
export function bubblewrapArgv(layout: SandboxLayout): [string, ...string[]] {
  const { sandbox } = layout;
  const args: string[] = [
    "bwrap",
    sandbox.readOnlyRoot ? "--ro-bind" : "--bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
  ];
  if (sandbox.privateTmp) {
    args.push("--perms", "1777", "--tmpfs", "/tmp");
    // Under a private /tmp the task and working directories may be gone: mount them back.
    const bind = sandbox.readOnlyRoot ? "--ro-bind-try" : "--bind-try";
    for (const path of uniquePaths([layout.taskDir, layout.cwd])) args.push(bind, path, path);
  }
  for (const path of sandbox.writablePaths) args.push("--bind", path, path);
  for (const { path, directory } of layout.hidden) {
    args.push(...(directory ? ["--tmpfs", path, "--remount-ro", path] : ["--ro-bind", "/dev/null", path]));
  }
  // bubblewrap makes missing parents 0700 (root's): another uid could not reach its own files.
  if (sandbox.privateTmp && layout.attemptDir.startsWith("/tmp/")) {
    args.push("--perms", "0711", "--dir", dirname(layout.attemptDir));
  }
  args.push("--bind", layout.attemptDir, layout.attemptDir, "--bind", layout.socket, layout.socketInside);
  // No --die-with-parent: bubblewrap itself dies of the group's SIGTERM, and the script must outlive it
  // through its grace period; the final SIGKILL to the group reaches every process inside.
  args.push("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try");
  // bubblewrap always brings up a loopback in a new network namespace: `off` unshares it outside.
  if (sandbox.network === "loopback") args.push("--unshare-net");
  args.push("--chdir", layout.cwd, "--", ...dropPrivileges(sandbox, layout.root), ...layout.argv);
  const inner = sandbox.network === "off" ? [...unshareNet(layout.root), ...args] : args;
  return leader(layout.procsFiles, inner);
}

function unshareNet(root: boolean): string[] {
  return ["unshare", ...(root ? [] : ["--user", "--map-current-user"]), "--net", "--"];
}

/**
 * The util-linux `unshare` command line of an attempt: new mount, pid, ipc, uts (and network)
 * namespaces, then a setup script that builds the view bubblewrap would: writable paths bound,
 * every other mount read-only, a private /tmp, the needed directories bound back through open
 * descriptors, hidden paths covered, privileges dropped.
 */
export function namespacesArgv(layout: SandboxLayout): [string, ...string[]] {
  const { sandbox } = layout;
  const q = shellQuote;
  const lines: string[] = ["set -e", "mount --make-rprivate /"];
  for (const path of [...sandbox.writablePaths, layout.attemptDir]) lines.push(`mount --bind ${q(path)} ${q(path)}`);
  lines.push(`mount --bind ${q(layout.socket)} ${q(layout.socketInside)}`);
  const keep = [...sandbox.writablePaths, layout.attemptDir, layout.socketInside];
  if (sandbox.readOnlyRoot) {
    // Each mount is made read-only on its own (a remount does not reach the mounts below it), read
    // straight from mountinfo with no helper process per line. A mount that cannot be made
    // read-only stops the attempt (set -e): the script never runs with a writable root it did not ask for.
    // mountinfo escapes space, tab, newline and backslash as octal: kept paths are matched both ways.
    const escaped = (path: string) =>
      path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
    const kept = [...new Set(keep.flatMap((path) => [path, escaped(path)]))].map(q).join("|");
    lines.push(
      "while read -r _ _ _ _ mp _; do",
      `  case "$mp" in /proc|/proc/*|/dev|/dev/*|${kept}) continue;; esac`,
      `  mount -o remount,bind,ro "$mp"`,
      "done < /proc/self/mountinfo",
    );
  }
  // Paths under /tmp vanish under a private /tmp: hold them open, then bind them back.
  const rebind = uniquePaths([layout.taskDir, layout.cwd, layout.attemptDir, ...sandbox.writablePaths]).filter(
    (p) => sandbox.privateTmp && (p === "/tmp" || p.startsWith("/tmp/")),
  );
  if (rebind.length > 6) throw new Error("too many paths under /tmp to bind back");
  rebind.forEach((path, i) => {
    lines.push(`exec ${i + 3}<${q(path)}`);
  });
  if (sandbox.privateTmp) lines.push("mount -t tmpfs -o mode=1777 kiln-tmp /tmp");
  rebind.forEach((path, i) => {
    const writable = path === layout.attemptDir || sandbox.writablePaths.includes(path);
    lines.push(`mkdir -p ${q(path)}`, `mount --no-canonicalize --rbind /proc/self/fd/${i + 3} ${q(path)}`);
    if (!writable && sandbox.readOnlyRoot) lines.push(`mount -o remount,bind,ro ${q(path)}`);
    lines.push(`exec ${i + 3}<&-`);
  });
  for (const { path, directory } of layout.hidden) {
    // A path under a private /tmp that was not bound back is gone already.
    const hide = directory
      ? `mount -t tmpfs -o ro,size=4k kiln-hidden ${q(path)}`
      : `mount --bind /dev/null ${q(path)}`;
    lines.push(`if [ -e ${q(path)} ]; then ${hide}; fi`);
  }
  if (sandbox.network === "loopback") lines.push("ip link set lo up");
  lines.push(`cd ${q(layout.cwd)}`, "set +e", `"$@"`);
  const flags = ["--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--ipc", "--uts"];
  if (sandbox.network !== "on") flags.push("--net");
  const user = layout.root ? [] : ["--user", "--map-root-user"];
  const inner = [
    "unshare",
    ...user,
    ...flags,
    "--",
    "/bin/sh",
    "-c",
    lines.join("\n"),
    "kiln-namespaces",
    ...dropPrivileges(sandbox, layout.root),
    ...layout.argv,
  ];
  return leader(layout.procsFiles, inner);
}
