import assert from "node:assert/strict";
import { kiln } from "../e2e/cli-support.ts";

/** Creates a worker-role token through `kiln tokens create` against a server; returns its plaintext. */
export async function createWorkerToken(serverUrl: string, adminToken: string): Promise<string> {
  const created = await kiln([
    ...["--server", serverUrl, "--token", adminToken],
    ...["tokens", "create", "--name", "workers", "--role", "worker", "--json"],
  ]);
  assert.equal(created.code, 0, created.err);
  return (created.json() as { token: string }).token;
}
