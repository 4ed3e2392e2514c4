import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { buildSync } from "esbuild";
import type { Hono } from "hono";
import type { AppEnv } from "./api-route.ts";

const uiDir = fileURLToPath(new URL("../ui/", import.meta.url));

/** Paths the UI never answers: the API, webhooks and the operational endpoints keep their 404s. */
const apiPrefixes = ["/v1", "/hooks", "/healthz", "/readyz", "/metrics"];

/** True when a GET for this path should be answered with the UI's index.html (deep links). */
export function isUiPath(pathname: string): boolean {
  return !apiPrefixes.some((prefix) => pathname === prefix || pathname.startsWith(`${prefix}/`));
}

/** The Hono paths the UI mounts: static files only, no store data, so they carry no access rule. */
export const uiRoutePaths: readonly string[] = ["/ui/*", "/*"];

const contentTypes: Readonly<Record<string, string>> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

/** A file the UI serves. */
export interface UiAsset {
  readonly body: string;
  readonly type: string;
}

/** Every source file under src/ui (by URL path below /ui/), read once: the app is small. */
export function readUiAssets(dir = uiDir): ReadonlyMap<string, UiAsset> {
  const assets = new Map<string, UiAsset>();
  const walk = (at: string) => {
    for (const entry of readdirSync(at)) {
      const path = join(at, entry);
      if (statSync(path).isDirectory()) walk(path);
      else {
        const type = contentTypes[entry.slice(entry.lastIndexOf("."))];
        const name = relative(dir, path).split("\\").join("/");
        if (type !== undefined) assets.set(name, { body: readFileSync(path, "utf8"), type });
      }
    }
  };
  walk(dir);
  return assets;
}

let bundled: string | undefined;

/**
 * The app's modules bundled into one minified script by esbuild (already a dependency), in
 * memory, at the first request of a server process: one request instead of one per module, and
 * no build step before `npm run dev`. `KILN_UI_MODULES=1` serves the modules as they are.
 */
export function uiBundle(): string {
  bundled ??= buildSync({
    entryPoints: [join(uiDir, "app.js")],
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2022",
    write: false,
    legalComments: "none",
  }).outputFiles[0]?.text;
  return bundled ?? "";
}

const etagOf = (body: string) => `"${createHash("sha1").update(body).digest("base64url")}"`;

/** Serves the web UI at `/`: its script and styles under /ui/, index.html for every other UI path. */
export function mountUi(app: Hono<AppEnv>): void {
  const assets = readUiAssets();
  const modules = process.env.KILN_UI_MODULES === "1";
  const indexHtml = readFileSync(join(uiDir, "index.html"), "utf8");
  const etags = new Map<string, string>();
  app.get("/ui/*", (c, next) => {
    const path = c.req.path.slice("/ui/".length);
    const asset: UiAsset | undefined =
      path === "app.js" && !modules ? { body: uiBundle(), type: contentTypes[".js"] as string } : assets.get(path);
    if (asset === undefined) return next();
    // Revalidated on every load (file names carry no fingerprint); unchanged files answer 304.
    let etag = etags.get(path);
    if (etag === undefined) etags.set(path, (etag = etagOf(asset.body)));
    const headers = { "content-type": asset.type, "cache-control": "no-cache", etag };
    if (c.req.header("if-none-match") === etag) return c.body(null, 304, headers);
    return c.body(asset.body, 200, headers);
  });
  app.get("/*", async (c, next) => {
    const path = new URL(c.req.url).pathname;
    // An unknown /ui/ file is a 404, not the page: a stale module must not load HTML.
    if (!isUiPath(path) || path.startsWith("/ui/")) return next();
    return c.html(indexHtml);
  });
}
