import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ALL_NAMESPACES, type ControlStore } from "../store/control-store.ts";
import { sha256Hex } from "../store/sql-control.ts";

/** The file (in the data directory) holding the bootstrap admin token. */
export const ADMIN_TOKEN_FILE = "admin-token";

/** What ensureAdminToken found or did. */
export interface AdminTokenResult {
  readonly path: string;
  /** `created`: a new token was written; `existing`: the file's token is valid; `revoked`: it was revoked (kept so). */
  readonly state: "created" | "existing" | "revoked";
}

/**
 * Makes sure `<dataDir>/admin-token` (mode 0600) holds a working `*` admin token: on first start
 * (no file, or a token this database does not know, e.g. a fresh database) a new one is created
 * and written. A token that was deliberately revoked is not replaced.
 */
export async function ensureAdminToken(
  store: Pick<ControlStore, "findToken" | "createToken">,
  dataDir: string,
): Promise<AdminTokenResult> {
  const path = join(dataDir, ADMIN_TOKEN_FILE);
  let existing: string | undefined;
  try {
    existing = readFileSync(path, "utf8").trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  if (existing) {
    const token = await store.findToken({ hash: sha256Hex(existing) });
    if (token) return { path, state: token.revokedAt === null ? "existing" : "revoked" };
  }
  const { plaintext } = await store.createToken({ name: "bootstrap admin", namespace: ALL_NAMESPACES, role: "admin" });
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(path, `${plaintext}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return { path, state: "created" };
}
