import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadConfig } from "../config/load-config.ts";
import { hasCode } from "../errors.ts";
import { rateLimitOptions } from "./rate-limit-options.ts";

describe("rate limits from the config and flags", () => {
  it("reads server.rate_limits, lets a flag win, and leaves the rest to the defaults", () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-rate-config-"));
    try {
      const file = join(dir, "kiln.yaml");
      writeFileSync(file, 'server:\n  rate_limits:\n    default: "10,40"\n    anonymous: "off"\n');
      const config = loadConfig({ file });
      assert.deepEqual(rateLimitOptions({}, config), {
        rateLimit: { default: { perSecond: 10, burst: 40 }, anonymous: false },
      });
      assert.deepEqual(rateLimitOptions({ rateLimit: "5", workerRateLimit: "100,100" }, config), {
        rateLimit: {
          default: { perSecond: 5, burst: 20 },
          worker: { perSecond: 100, burst: 100 },
          anonymous: false,
        },
      });
      assert.deepEqual(rateLimitOptions({}, undefined), {});
      assert.throws(
        () => rateLimitOptions({ anonymousRateLimit: "fast" }, undefined),
        (e) => hasCode(e, "INVALID_CONFIG") && /--anonymous-rate-limit/.test((e as Error).message),
      );
      writeFileSync(file, 'server:\n  rate_limits:\n    default: "lots"\n');
      assert.throws(() => loadConfig({ file }), /rate_limits/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
