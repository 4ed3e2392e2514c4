import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { ResolvedScriptSource } from "../config/resolve-script-deps.ts";
import { isKilnError, KilnError } from "../errors.ts";
import type { CacheWorkParams } from "./content-cache.ts";
import { runInstaller } from "./installer-process.ts";

/** A fetched source: the directory the script runs in, and the commit of a git source. */
export interface FetchedSource {
  readonly dir: string;
  /** The full commit id a git source resolved to (null for HTTP and S3). */
  readonly commit: string | null;
  /** Whether this call fetched it (false: it came from the cache). */
  readonly fetched: boolean;
  /** The cache entry holding it (for ContentCache.useEntry). */
  readonly entryDir: string;
}

/** What fetching a task kind's source needs. */
export interface FetchSourceParams extends CacheWorkParams {
  readonly source: ResolvedScriptSource;
  /** The clock of branch refreshes (tests). */
  readonly now?: () => number;
}

const sha256Hex = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * Fetches a task kind's script into the content-addressed cache, once per pin: an HTTP or S3
 * object is stored under its sha256 (checked before it is kept), a git commit under the
 * repository and commit. A branch is looked up again only after its refresh interval.
 */
export async function fetchScriptSource(p: FetchSourceParams): Promise<FetchedSource> {
  const s = p.source;
  if (s.type === "git") return await fetchGit(p, s);
  const entry = await p.cache.ensureEntry({
    area: s.type,
    key: s.sha256,
    ...(p.signal ? { signal: p.signal } : {}),
    build: async (dir) => {
      const where = s.type === "http" ? s.url : `s3://${s.bucket}/${s.key}`;
      p.log("info", `Fetching the script of ${p.kind} from ${p.mask(where)}`);
      const body = s.type === "http" ? await httpBody(s.url, p.signal) : await s3Body(s);
      await saveVerified(body, join(dir, s.file), s.sha256, where);
      return { url: where, sha256: s.sha256 };
    },
  });
  return { dir: entry.dir, commit: null, fetched: entry.built, entryDir: entry.dir };
}

async function httpBody(url: string, signal: AbortSignal | undefined): Promise<Readable> {
  let response: Response;
  try {
    response = await fetch(url, { redirect: "follow", ...(signal ? { signal } : {}) });
  } catch (cause) {
    throw new KilnError("SOURCE_FETCH_FAILED", `Cannot download ${url}: ${(cause as Error).message}`, { cause });
  }
  if (!response.ok || response.body === null) {
    throw new KilnError("SOURCE_FETCH_FAILED", `Cannot download ${url}: HTTP ${response.status}`, {
      // A missing file stays missing; a server error may pass.
      retryable: response.status >= 500 || response.status === 429,
    });
  }
  return Readable.fromWeb(response.body as import("node:stream/web").ReadableStream);
}

async function s3Body(s: Extract<ResolvedScriptSource, { type: "s3" }>): Promise<Readable> {
  const client = new S3Client({
    region: s.region ?? process.env.AWS_REGION ?? "us-east-1",
    ...(s.endpoint === null ? {} : { endpoint: s.endpoint }),
    forcePathStyle: s.forcePathStyle,
  });
  try {
    const object = await client.send(new GetObjectCommand({ Bucket: s.bucket, Key: s.key }));
    if (!(object.Body instanceof Readable)) {
      throw new KilnError("SOURCE_FETCH_FAILED", `s3://${s.bucket}/${s.key} has no body`);
    }
    return object.Body;
  } catch (cause) {
    if (isKilnError(cause)) throw cause;
    const status = (cause as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    throw new KilnError(
      "SOURCE_FETCH_FAILED",
      `Cannot get s3://${s.bucket}/${s.key}${s.endpoint ? ` from ${s.endpoint}` : ""}: ${(cause as Error).name}${status ? ` (HTTP ${status})` : ""}: ${(cause as Error).message}; check the bucket, key, region and the worker's AWS credentials`,
      { cause, retryable: status === undefined || status >= 500 },
    );
  } finally {
    // The body stream keeps its own socket; destroying the client only stops new requests.
    queueMicrotask(() => client.destroy());
  }
}

/** Writes a download to `target`, refusing it (nothing kept) when its sha256 is not the pinned one. */
async function saveVerified(body: Readable, target: string, expected: string, where: string): Promise<void> {
  const digest = createHash("sha256");
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      digest.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(body, hashing, createWriteStream(target, { mode: 0o755 }));
  } catch (cause) {
    throw new KilnError("SOURCE_FETCH_FAILED", `Downloading ${where} failed: ${(cause as Error).message}`, { cause });
  }
  const actual = digest.digest("hex");
  if (actual !== expected) {
    throw new KilnError(
      "SOURCE_CHECKSUM_MISMATCH",
      `The script at ${where} has sha256 ${actual}, but source.sha256 is ${expected}: the file changed or the pin is wrong; check it and update sha256`,
      { retryable: false, data: { expected, actual, source: where } },
    );
  }
  await chmod(target, 0o755);
}

type GitSource = Extract<ResolvedScriptSource, { type: "git" }>;

function gitCommand(p: FetchSourceParams, what: string) {
  return {
    // Never ask for credentials on a terminal the worker does not have.
    env: { ...p.baseEnv, GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "true" },
    onLine: (line: string) => p.log("info", `[${what}] ${line}`),
    mask: p.mask,
    ...(p.signal ? { signal: p.signal } : {}),
    failureCode: "SOURCE_FETCH_FAILED" as const,
    what,
    retryable: true,
  };
}

async function gitOutput(p: FetchSourceParams, what: string, argv: [string, ...string[]]): Promise<string> {
  let out = "";
  await runInstaller({
    ...gitCommand(p, what),
    argv,
    onLine: (line) => {
      out += `${line}\n`;
    },
  });
  return out;
}

async function fetchGit(p: FetchSourceParams, s: GitSource): Promise<FetchedSource> {
  const pin = "commit" in s.pin ? { commit: s.pin.commit } : "tag" in s.pin ? { tag: s.pin.tag } : null;
  const commit = pin === null ? await branchCommit(p, s, (s.pin as { branch: string }).branch) : (pin.commit ?? null);
  const tag = pin !== null && "tag" in pin ? (pin.tag as string) : null;
  const key = sha256Hex(JSON.stringify({ repository: s.repository, ...(tag === null ? { commit } : { tag }) }));
  const entry = await p.cache.ensureEntry({
    area: "git",
    key,
    ...(p.signal ? { signal: p.signal } : {}),
    build: async (dir) => {
      const tree = join(dir, "tree");
      const at = tag === null ? `commit ${commit}` : `tag ${tag}`;
      p.log("info", `Fetching the script of ${p.kind} from ${p.mask(s.repository)} at ${at}`);
      if (tag !== null) {
        await runInstaller({
          ...gitCommand(p, "git clone"),
          argv: ["git", "clone", "--quiet", "--depth", "1", "--branch", tag, "--", s.repository, tree],
        });
      } else {
        await runInstaller({
          ...gitCommand(p, "git clone"),
          argv: ["git", "clone", "--quiet", "--no-checkout", "--", s.repository, tree],
        });
        await runInstaller({
          ...gitCommand(p, "git checkout"),
          // The clone worked: a commit it does not hold will not appear by retrying.
          retryable: false,
          argv: ["git", "-C", tree, "checkout", "--quiet", "--detach", `${commit}^{commit}`],
        });
      }
      const head = (await gitOutput(p, "git rev-parse", ["git", "-C", tree, "rev-parse", "HEAD"])).trim();
      // The checkout must be the pinned commit (a short id must not match another one).
      if (tag === null && !head.startsWith(commit as string)) {
        throw new KilnError(
          "SOURCE_CHECKSUM_MISMATCH",
          `The checkout of ${s.repository} is at ${head}, not at the pinned commit ${commit}`,
          { retryable: false },
        );
      }
      // The history is not needed to run the script; the commit is kept in the entry.
      await rm(join(tree, ".git"), { recursive: true, force: true });
      return { repository: s.repository, commit: head, ...(tag === null ? {} : { tag }) };
    },
  });
  return { dir: join(entry.dir, "tree"), commit: String(entry.meta.commit), fetched: entry.built, entryDir: entry.dir };
}

/**
 * The commit a branch points at: looked up with `git ls-remote` when the last look-up is older
 * than the refresh interval, else the one recorded then (shared by every worker process).
 */
async function branchCommit(p: FetchSourceParams, s: GitSource, branch: string): Promise<string> {
  const now = p.now?.() ?? Date.now();
  const refs = join(p.cache.root, ".refs");
  const file = join(refs, `${sha256Hex(JSON.stringify({ repository: s.repository, branch }))}.json`);
  try {
    const recorded = JSON.parse(await readFile(file, "utf8")) as { commit: string; resolvedAt: number };
    if (now - recorded.resolvedAt < (s.refreshMs ?? 0)) return recorded.commit;
  } catch {
    // Never resolved here, or unreadable: look it up.
  }
  const out = await gitOutput(p, "git ls-remote", ["git", "ls-remote", "--", s.repository, `refs/heads/${branch}`]);
  const commit = /^([0-9a-f]{40})\s/m.exec(out)?.[1];
  if (commit === undefined) {
    throw new KilnError("SOURCE_FETCH_FAILED", `The repository ${p.mask(s.repository)} has no branch ${branch}`, {
      retryable: false,
    });
  }
  await mkdir(refs, { recursive: true });
  const tmp = `${file}.${randomBytes(4).toString("hex")}`;
  await writeFile(tmp, JSON.stringify({ commit, resolvedAt: now }));
  await rename(tmp, file);
  p.log("info", `The branch ${branch} of ${p.mask(s.repository)} is at ${commit}`);
  return commit;
}
