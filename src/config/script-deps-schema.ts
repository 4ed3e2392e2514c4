import { z } from "zod";

/**
 * The config keys of script dependencies and remote scripts: `requirements` and `source` on a
 * task kind, `worker.dependencies` for the worker's cache and installers. Kept apart from
 * schema.ts so the task-kind schema only gains two lines.
 */

const SHA256 = /^[0-9a-f]{64}$/i;
const sha256 = z
  .string()
  .regex(SHA256, "a sha256 of 64 hex digits")
  .describe("The expected sha256 of the content (64 hex digits); a mismatch refuses the run");
const duration = z
  .union([z.number().positive(), z.string().regex(/^\s*(\d+(\.\d+)?\s*(ms|s|m|h|d)\s*)+$/, 'a duration like "5m"')])
  .describe('How long a resolved branch commit is reused before it is looked up again ("5m", "1h", or seconds)');

/** A requirements list, or the path of a requirements.txt / package.json relative to the config. */
const requirementList = z.union([
  z.string().min(1).describe("A requirements.txt (Python) or package.json (Node) path, relative to the config"),
  z.array(z.string().min(1)).describe("Packages, one specifier each (pip or npm syntax)"),
]);

/** `requirements`: the packages a script needs, installed once per content hash. */
export const requirementsSchema = z
  .union([
    requirementList,
    z
      .strictObject({
        python: requirementList.optional().describe("Python packages: a requirements.txt path or a list"),
        node: requirementList.optional().describe("Node packages: a package.json path or a list"),
      })
      .refine((r) => r.python !== undefined || r.node !== undefined, "at least one of python or node"),
  ])
  .describe(
    "Packages the script needs, built once per content hash into a cached venv / node_modules: a list (language from the command), a requirements.txt or package.json path, or { python, node }",
  );

const fileName = z
  .string()
  .regex(/^[^/\\]+$/, "a file name without directories")
  .describe("The name the file is saved under (default: the URL's or key's last path segment)");

const GIT_KEYS = ["git", "commit", "tag", "branch", "refresh"] as const;
const HTTP_KEYS = ["url", "sha256", "file"] as const;
const S3_KEYS = ["s3", "sha256", "endpoint", "region", "force_path_style", "file"] as const;

/**
 * `source`: where the script's files come from, fetched once per pin into a content-addressed
 * cache. One object with every key (checked together below) rather than a union, so that a
 * missing sha256 or refresh is reported by name instead of as "not valid".
 */
export const scriptSourceSchema = z
  .strictObject({
    git: z.string().min(1).optional().describe("Repository URL or path (anything the git CLI clones)"),
    commit: z
      .string()
      .regex(/^[0-9a-f]{7,40}$/i, "a commit id of 7 to 40 hex digits")
      .optional()
      .describe("With git: pin to this commit"),
    tag: z.string().min(1).optional().describe("With git: pin to this tag (fetched once; a moved tag is not followed)"),
    branch: z.string().min(1).optional().describe("With git: follow this branch (needs refresh)"),
    refresh: duration.optional(),
    url: z
      .string()
      .regex(/^https?:\/\/\S+$/i, "an http:// or https:// URL")
      .optional()
      .describe("Download the script file from this URL (needs sha256)"),
    s3: z
      .string()
      .regex(/^s3:\/\/[^/]+\/.+$/, "an s3://bucket/key URL")
      .optional()
      .describe("Get the script file from this S3 object, as s3://bucket/key (needs sha256)"),
    sha256: sha256.optional(),
    endpoint: z.string().min(1).optional().describe("With s3: an S3-compatible endpoint URL (default: AWS)"),
    region: z.string().min(1).optional().describe("With s3: the bucket's region (default: AWS_REGION or us-east-1)"),
    force_path_style: z
      .boolean()
      .optional()
      .describe("With s3: address the bucket in the path (default true with endpoint)"),
    file: fileName.optional(),
  })
  .superRefine((s, ctx) => {
    const kinds = (["git", "url", "s3"] as const).filter((k) => s[k] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({ code: "custom", message: "exactly one of git, url or s3" });
      return;
    }
    const kind = kinds[0];
    const allowed: readonly string[] = kind === "git" ? GIT_KEYS : kind === "url" ? HTTP_KEYS : S3_KEYS;
    for (const key of Object.keys(s)) {
      if (!allowed.includes(key) && s[key as keyof typeof s] !== undefined) {
        ctx.addIssue({ code: "custom", path: [key], message: `a key of ${kinds[0]} sources (${allowed.join(", ")})` });
      }
    }
    if (kind !== "git" && s.sha256 === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["sha256"],
        message: "the sha256 of the file (64 hex digits): remote files are only run when they match it",
      });
    }
    if (kind !== "git") return;
    const pins = [s.commit, s.tag, s.branch].filter((p) => p !== undefined).length;
    if (pins !== 1) ctx.addIssue({ code: "custom", message: "exactly one of commit, tag or branch with git" });
    if (s.branch !== undefined && s.refresh === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["refresh"],
        message: 'a refresh interval with branch (a branch moves: say how often to look it up, e.g. "5m")',
      });
    }
    if (s.branch === undefined && s.refresh !== undefined) {
      ctx.addIssue({ code: "custom", path: ["refresh"], message: "refresh only with branch (pins never move)" });
    }
  })
  .describe(
    "Fetch the script from git (commit, tag, or branch with refresh), an HTTP(S) URL with sha256, or an S3 object with sha256; the script runs in the fetched directory",
  );

/** `worker.dependencies`: where and how script environments and sources are built and cached. */
export const dependencySettingsSchema = z
  .strictObject({
    cache_directory: z
      .string()
      .min(1)
      .optional()
      .describe("Cache of environments and fetched sources (default: <data directory>/cache)"),
    cache_max_size_mb: z
      .number()
      .positive()
      .optional()
      .describe("Size cap of the cache; least recently used entries are removed above it (default 2048)"),
    python: z.string().min(1).optional().describe("Interpreter that venvs are made from (default /usr/bin/python3)"),
    pip_index_url: z.string().min(1).optional().describe("pip --index-url (default: PIP_INDEX_URL, else pip's own)"),
    pip_find_links: z
      .array(z.string().min(1))
      .optional()
      .describe("pip --find-links: directories or URLs of wheels/sdists"),
    npm_registry: z.string().min(1).optional().describe("npm --registry (default: npm's own)"),
  })
  .describe("How script dependencies and remote sources are installed and cached");

/** `requirements` as written. */
export type RequirementsInput = z.output<typeof requirementsSchema>;
/** `source` as written. */
export type ScriptSourceInput = z.output<typeof scriptSourceSchema>;
/** `worker.dependencies` as written. */
export type DependencySettingsInput = z.output<typeof dependencySettingsSchema>;
