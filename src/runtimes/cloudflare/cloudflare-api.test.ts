// The Cloudflare API client against a local stand-in of the endpoints it calls (a real account
// cannot be reached from Kiln's test machines): the requests it makes, and its errors.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { hasCode } from "../../errors.ts";
import { cloudflareHttpApi } from "./cloudflare-api.ts";

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly auth: string | undefined;
  readonly type: string | undefined;
  readonly body: string;
}

describe("cloudflareHttpApi (against a local stand-in of the Cloudflare API)", () => {
  const seen: Seen[] = [];
  let server: Server;
  let base: string;

  before(async () => {
    server = createServer(async (req: IncomingMessage, res) => {
      let body = "";
      for await (const chunk of req) body += chunk;
      seen.push({
        method: req.method ?? "",
        url: req.url ?? "",
        auth: req.headers.authorization,
        type: req.headers["content-type"],
        body,
      });
      res.setHeader("content-type", "application/json");
      if (req.url?.includes("/scripts/kiln-refused")) {
        res.statusCode = 400;
        res.end(JSON.stringify({ success: false, errors: [{ message: "Script too large" }] }));
      } else if (req.method === "GET" && req.url?.endsWith("/workers/subdomain")) {
        res.end(JSON.stringify({ success: true, result: { subdomain: "acme" } }));
      } else if (req.method === "DELETE" && req.url?.includes("/scripts/kiln-gone")) {
        res.statusCode = 404;
        res.end(JSON.stringify({ success: false, errors: [{ message: "not found" }] }));
      } else res.end(JSON.stringify({ success: true, result: {} }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/client/v4`;
  });
  after(() => server?.close());

  it("uploads a module Worker with its secret, enables workers.dev and returns its URL", async () => {
    seen.length = 0;
    const api = cloudflareHttpApi({ accountId: "acc1", apiToken: "tok", baseUrl: base });
    const { url } = await api.uploadScript({ name: "kiln-abc", module: "export default {}", token: "s3cret" });
    assert.equal(url, "https://kiln-abc.acme.workers.dev/");
    assert.deepEqual(
      seen.map((s) => `${s.method} ${s.url}`),
      [
        "PUT /client/v4/accounts/acc1/workers/scripts/kiln-abc",
        "POST /client/v4/accounts/acc1/workers/scripts/kiln-abc/subdomain",
        "GET /client/v4/accounts/acc1/workers/subdomain",
      ],
    );
    assert.ok(seen.every((s) => s.auth === "Bearer tok"));
    const [put, subdomain] = seen;
    assert.match(put?.type ?? "", /^multipart\/form-data; boundary=/);
    assert.match(put?.body ?? "", /"main_module":"worker\.mjs"/);
    assert.match(put?.body ?? "", /"type":"secret_text","name":"KILN_TOKEN","text":"s3cret"/);
    assert.match(
      put?.body ?? "",
      /filename="worker\.mjs"\r\nContent-Type: application\/javascript\+module\r\n\r\nexport default \{\}/,
    );
    assert.equal(subdomain?.body, '{"enabled":true}');
    // The account's subdomain is asked once per client.
    await api.uploadScript({ name: "kiln-def", module: "export default {}", token: "s3cret" });
    assert.equal(seen.filter((s) => s.url.endsWith("/workers/subdomain")).length, 1);
  });

  it("deletes a Worker (one already gone is no error)", async () => {
    seen.length = 0;
    const api = cloudflareHttpApi({ accountId: "acc1", apiToken: "tok", baseUrl: base });
    await api.deleteScript({ name: "kiln-abc" });
    await api.deleteScript({ name: "kiln-gone" });
    assert.deepEqual(
      seen.map((s) => `${s.method} ${s.url}`),
      [
        "DELETE /client/v4/accounts/acc1/workers/scripts/kiln-abc?force=true",
        "DELETE /client/v4/accounts/acc1/workers/scripts/kiln-gone?force=true",
      ],
    );
  });

  it("fails a refused upload with CLOUDFLARE_API_FAILED and Cloudflare's message", async () => {
    const api = cloudflareHttpApi({ accountId: "acc1", apiToken: "tok", baseUrl: base });
    await assert.rejects(
      api.uploadScript({ name: "kiln-refused", module: "x", token: "t" }),
      (error: unknown) =>
        hasCode(error, "CLOUDFLARE_API_FAILED") &&
        /Script too large/.test((error as Error).message) &&
        /account_id/.test((error as Error).message),
    );
  });
});
