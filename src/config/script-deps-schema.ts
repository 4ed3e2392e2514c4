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

/** `source`: where the script's files come from, fetched once per pin into a content-addressed cache. */
export const scriptSourceSchema = z
  .union([
    z
      .strictObject({
        git: z.string().min(1).describe("Repository URL (any URL or path the git CLI clones)"),
        commit: z
          .string()
          .regex(/^[0-9a-f]{7,40}$/i, "a commit id of 7 to 40 hex digits")
          .optional()
          .describe("Pin to this commit"),
        tag: z.string().min(1).optional().describe("Pin to this tag (fetched once; a moved tag is not followed)"),
        branch: z.string().min(1).optional().describe("Follow this branch (needs refresh)"),
        refresh: duration.optional(),
      })
      .superRefine((s, ctx) => {
        const pins = [s.commit, s.tag, s.branch].filter((p) => p !== undefined).length;
        if (pins !== 1) ctx.addIssue({ code: "custom", message: "exactly one of commit, tag or branch" });
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
      }),
    z.strictObject({
      url: z
        .string()
        .regex(/^https?:\/\/\S+$/i, "an http:// or https:// URL")
        .describe("Where the script file is downloaded from"),
      sha256,
      file: z
        .string()
        .regex(/^[^/\\]+$/, "a file name without directories")
        .optional()
        .describe("The name the file is saved under (default: the URL's last path segment)"),
    }),
    z.strictObject({
      s3: z
        .string()
        .regex(/^s3:\/\/[^/]+\/.+$/, "an s3://bucket/key URL")
        .describe("The object, as s3://bucket/key"),
      sha256,
      endpoint: z.string().min(1).optional().describe("An S3-compatible endpoint URL (default: AWS)"),
      region: z.string().min(1).optional().describe("The bucket's region (default: AWS_REGION or us-east-1)"),
      force_path_style: z
        .boolean()
        .optional()
        .describe("Address the bucket in the path (most S3-compatible stores; default true with endpoint)"),
      file: z
        .string()
        .regex(/^[^/\\]+$/, "a file name without directories")
        .optional()
        .describe("The name the file is saved under (default: the key's last segment)"),
    }),
  ])
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
