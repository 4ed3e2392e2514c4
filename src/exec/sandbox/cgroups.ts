import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KilnError } from "../../errors.ts";

/**
 * Control groups as the sandbox uses them: one group per sandboxed attempt, under the worker's own
 * group, holding the memory, CPU and pids limits. Both hierarchies are handled: cgroup v2 (one
 * unified tree, `memory.max`, `cpu.max`, `pids.max`) and v1 (a tree per controller,
 * `memory.limit_in_bytes`, `cpu.cfs_quota_us`, `pids.max`). A hybrid machine (v1 controllers plus
 * an empty v2 tree) counts as v1.
 */

/** The limits a sandbox sets through cgroups. */
export type CgroupController = "memory" | "cpu" | "pids";

/** What this machine offers. */
export interface CgroupSupport {
  readonly version: 1 | 2 | null;
  /** Per controller, the worker's own group directory where attempt groups can be made (writable), or null. */
  readonly parents: Readonly<Record<CgroupController, string | null>>;
  /** One line for logs and `kiln doctor`. */
  readonly summary: string;
}

interface Mount {
  readonly type: string;
  readonly point: string;
  readonly options: readonly string[];
}

function readMounts(): Mount[] {
  try {
    return readFileSync("/proc/self/mounts", "utf8")
      .split("\n")
      .map((line) => line.split(" "))
      .filter((f) => f.length >= 4 && (f[2] === "cgroup" || f[2] === "cgroup2"))
      .map((f) => ({
        type: f[2] as string,
        point: (f[1] as string).replace(/\\040/g, " "),
        options: (f[3] as string).split(","),
      }));
  } catch {
    return [];
  }
}

/** The worker's group path per hierarchy (`0` for v2; the controller list for v1). */
function ownGroups(): Map<string, string> {
  const groups = new Map<string, string>();
  try {
    for (const line of readFileSync("/proc/self/cgroup", "utf8").split("\n")) {
      const [id, controllers, path] = line.split(":");
      if (path === undefined) continue;
      if (id === "0") groups.set("", path);
      for (const c of (controllers ?? "").split(",")) if (c !== "") groups.set(c, path);
    }
  } catch {
    // No /proc: no cgroups.
  }
  return groups;
}

// Whether a child group can really be made here (a read-only or delegated-elsewhere tree cannot).
function canMakeChild(dir: string): boolean {
  const probe = join(dir, `kiln-probe-${process.pid}`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
    return true;
  } catch {
    return false;
  }
}

// v2: a group with processes cannot hand controllers to children (the "no internal processes"
// rule), so the worker moves itself into a leaf first when its own group is busy.
function enableV2Controllers(dir: string, wanted: readonly string[]): string[] {
  const available = readFileSync(join(dir, "cgroup.controllers"), "utf8").trim().split(/\s+/);
  const enable = wanted.filter((c) => available.includes(c));
  if (enable.length === 0) return [];
  const control = join(dir, "cgroup.subtree_control");
  try {
    writeFileSync(control, enable.map((c) => `+${c}`).join(" "));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EBUSY") throw error;
    const leaf = join(dir, "kiln-worker");
    if (!existsSync(leaf)) mkdirSync(leaf);
    for (const pid of readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) {
      writeFileSync(join(leaf, "cgroup.procs"), pid);
    }
    writeFileSync(control, enable.map((c) => `+${c}`).join(" "));
  }
  const now = readFileSync(control, "utf8").trim().split(/\s+/);
  return enable.filter((c) => now.includes(c));
}

let detected: CgroupSupport | null = null;

/** Detects the cgroup version and which controllers the worker can use (once per process). */
export function detectCgroups(): CgroupSupport {
  if (detected !== null) return detected;
  const mounts = readMounts();
  const groups = ownGroups();
  const parents: Record<CgroupController, string | null> = { memory: null, cpu: null, pids: null };
  const v1 = mounts.filter((m) => m.type === "cgroup");
  const v2 = mounts.find((m) => m.type === "cgroup2");
  let version: 1 | 2 | null = null;
  let note = "";
  if (v1.some((m) => m.options.some((o) => o === "memory" || o === "pids" || o === "cpu"))) {
    version = 1;
    for (const controller of ["memory", "cpu", "pids"] as const) {
      const mount = v1.find((m) => m.options.includes(controller));
      if (!mount) continue;
      const dir = join(mount.point, groups.get(controller) ?? "/");
      if (canMakeChild(dir)) parents[controller] = dir;
    }
  } else if (v2 !== undefined) {
    version = 2;
    const dir = join(v2.point, groups.get("") ?? "/");
    try {
      if (canMakeChild(dir))
        for (const c of enableV2Controllers(dir, ["memory", "cpu", "pids"])) parents[c as CgroupController] = dir;
    } catch (error) {
      note = ` (enabling controllers in ${dir} failed: ${(error as Error).message})`;
    }
  }
  const writable = (Object.keys(parents) as CgroupController[]).filter((c) => parents[c] !== null);
  const summary =
    version === null
      ? "cgroups: none mounted (memory, cpu and pids limits unavailable)"
      : `cgroups: v${version}, writable controllers: ${writable.length === 0 ? "none" : writable.join(", ")}${note}`;
  detected = Object.freeze({ version, parents: Object.freeze(parents), summary });
  return detected;
}

/** The limits of one attempt's group. */
export interface CgroupLimits {
  readonly memoryBytes: number | null;
  readonly cpus: number | null;
  readonly pids: number | null;
}

/** The controllers some limits need. */
export function neededControllers(limits: CgroupLimits): CgroupController[] {
  return [
    ...(limits.memoryBytes === null ? [] : (["memory"] as const)),
    ...(limits.cpus === null ? [] : (["cpu"] as const)),
    ...(limits.pids === null ? [] : (["pids"] as const)),
  ];
}

const CPU_PERIOD_US = 100_000;

/** One attempt's control group(s): made with the limits set, joined by the sandbox's first process. */
export class AttemptCgroup {
  /** The `cgroup.procs` files the attempt's first process writes its pid into. */
  readonly procsFiles: readonly string[];
  readonly #dirs: readonly string[];
  readonly #memoryDir: string | null;
  readonly #version: 1 | 2;

  private constructor(version: 1 | 2, dirs: readonly string[], memoryDir: string | null) {
    this.#version = version;
    this.#dirs = dirs;
    this.#memoryDir = memoryDir;
    this.procsFiles = dirs.map((d) => join(d, "cgroup.procs"));
  }

  /** Makes the groups of an attempt; SANDBOX_FAILED names the file that could not be written. */
  static create(support: CgroupSupport, limits: CgroupLimits, name: string): AttemptCgroup {
    const version = support.version;
    if (version === null) throw new KilnError("SANDBOX_FAILED", "No cgroup hierarchy is mounted");
    const made: string[] = [];
    const write = (dir: string, file: string, value: string) => {
      try {
        writeFileSync(join(dir, file), value);
      } catch (cause) {
        throw new KilnError(
          "SANDBOX_FAILED",
          `Could not set ${join(dir, file)} to ${value}: ${(cause as Error).message}`,
          {
            cause,
          },
        );
      }
    };
    const groupFor = (controller: CgroupController): string => {
      const parent = support.parents[controller];
      if (parent === null) {
        throw new KilnError(
          "SANDBOX_UNAVAILABLE",
          `The ${controller} cgroup controller is not writable here (${support.summary})`,
        );
      }
      const dir = join(parent, name);
      if (!made.includes(dir)) {
        mkdirSync(dir);
        made.push(dir);
      }
      return dir;
    };
    let memoryDir: string | null = null;
    try {
      if (limits.memoryBytes !== null) {
        memoryDir = groupFor("memory");
        const bytes = String(limits.memoryBytes);
        if (version === 2) {
          write(memoryDir, "memory.max", bytes);
          if (existsSync(join(memoryDir, "memory.swap.max"))) write(memoryDir, "memory.swap.max", "0");
        } else {
          write(memoryDir, "memory.limit_in_bytes", bytes);
          // Without this, a v1 group over its limit swaps instead of being killed.
          if (existsSync(join(memoryDir, "memory.memsw.limit_in_bytes")))
            write(memoryDir, "memory.memsw.limit_in_bytes", bytes);
        }
      }
      if (limits.cpus !== null) {
        const dir = groupFor("cpu");
        const quota = String(Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US)));
        if (version === 2) write(dir, "cpu.max", `${quota} ${CPU_PERIOD_US}`);
        else {
          write(dir, "cpu.cfs_period_us", String(CPU_PERIOD_US));
          write(dir, "cpu.cfs_quota_us", quota);
        }
      }
      if (limits.pids !== null) write(groupFor("pids"), "pids.max", String(limits.pids));
    } catch (error) {
      for (const dir of made.reverse()) rmdirQuietly(dir);
      throw error;
    }
    return new AttemptCgroup(version, made, memoryDir);
  }

  /** Whether the kernel killed a process of the attempt for going over its memory limit. */
  memoryLimitHit(): boolean {
    if (this.#memoryDir === null) return false;
    const file = this.#version === 2 ? "memory.events" : "memory.oom_control";
    try {
      const match = /^oom_kill (\d+)$/m.exec(readFileSync(join(this.#memoryDir, file), "utf8"));
      if (match) return Number(match[1]) > 0;
      // Kernels before 4.13 have no oom_kill count in v1: a hit limit is the best evidence.
      return Number(readFileSync(join(this.#memoryDir, "memory.failcnt"), "utf8").trim()) > 0;
    } catch {
      return false;
    }
  }

  /** Removes the groups once their processes are gone (a dying pid namespace may take a moment). */
  async remove(): Promise<void> {
    for (const dir of this.#dirs) {
      for (let i = 0; i < 50 && !rmdirQuietly(dir); i++) await new Promise((r) => setTimeout(r, 20));
    }
  }
}

function rmdirQuietly(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT";
  }
}
