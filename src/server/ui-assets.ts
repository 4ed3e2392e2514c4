import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
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

/** Every servable file under src/ui (by URL path below /ui/), read once: the app is small. */
export function readUiAssets(dir = uiDir): ReadonlyMap<string, { readonly body: string; readonly type: string }> {
  const assets = new Map<string, { body: string; type: string }>();
  const walk = (at: string) => {
    for (const entry of readdirSync(at)) {
      const path = join(at, entry);
      if (statSync(path).isDirectory()) walk(path);
      else {
        const type = contentTypes[entry.slice(entry.lastIndexOf("."))];
        if (type !== undefined)
          assets.set(relative(dir, path).split("\\").join("/"), { body: readFileSync(path, "utf8"), type });
      }
    }
  };
  walk(dir);
  return assets;
}

/** Serves the web UI at `/`: its modules under /ui/, and index.html for every other UI path. */
export function mountUi(app: Hono<AppEnv>): void {
  const indexHtml = readFileSync(join(uiDir, "index.html"), "utf8");
  const assets = readUiAssets();
  app.get("/ui/*", (c, next) => {
    const asset = assets.get(c.req.path.slice("/ui/".length));
    if (asset === undefined) return next();
    // Revalidated on every load: no build step fingerprints the file names.
    return c.body(asset.body, 200, { "content-type": asset.type, "cache-control": "no-cache" });
  });
  app.get("/*", async (c, next) => {
    const path = new URL(c.req.url).pathname;
    // An unknown /ui/ file is a 404, not the page: a stale module must not load HTML.
    if (!isUiPath(path) || path.startsWith("/ui/")) return next();
    return c.html(indexHtml);
  });
}
