import { readFileSync } from "node:fs";
import type { Hono } from "hono";
import type { AppEnv } from "./api-route.ts";

const uiDir = new URL("../ui/", import.meta.url);

/** Paths the UI never answers: the API, webhooks and the operational endpoints keep their 404s. */
const apiPrefixes = ["/v1", "/hooks", "/healthz", "/readyz", "/metrics"];

/** True when a GET for this path should be answered with the UI's index.html (deep links). */
export function isUiPath(pathname: string): boolean {
  return !apiPrefixes.some((prefix) => pathname === prefix || pathname.startsWith(`${prefix}/`));
}

/** The Hono paths the UI mounts: static files only, no store data, so they carry no access rule. */
export const uiRoutePaths: readonly string[] = ["/ui/app.js", "/*"];

/** Serves the web UI at `/`: its script under /ui/, and index.html for every other UI path. */
export function mountUi(app: Hono<AppEnv>): void {
  // Read once at mount: the files are small and ship with the package.
  const indexHtml = readFileSync(new URL("index.html", uiDir), "utf8");
  const appJs = readFileSync(new URL("app.js", uiDir), "utf8");
  app.get("/ui/app.js", (c) => c.body(appJs, 200, { "content-type": "text/javascript; charset=utf-8" }));
  app.get("/*", async (c, next) => {
    if (!isUiPath(new URL(c.req.url).pathname)) return next();
    return c.html(indexHtml);
  });
}
