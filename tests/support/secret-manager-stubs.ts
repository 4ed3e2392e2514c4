/**
 * Local stand-ins for the external secret managers, for tests: real HTTP servers speaking the
 * part of each API Kiln uses. HashiCorp Vault: KV v2 reads (`GET /v1/MOUNT/data/PATH`, token in
 * `X-Vault-Token`) and AppRole login (`POST /v1/auth/approle/login`). AWS Secrets Manager: the JSON
 * protocol (`POST /`, `X-Amz-Target: secretsmanager.GetSecretValue`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A running stub: its base URL, what it was asked, and how to stop it. */
export interface SecretManagerStub {
  readonly url: string;
  /** `METHOD path` of each request, in order (AWS: the X-Amz-Target and SecretId). */
  readonly requests: string[];
  close(): Promise<void>;
}

function body(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    request.setEncoding("utf8");
    request.on("data", (c: string) => {
      text += c;
    });
    request.on("end", () => resolve(text));
    request.on("error", reject);
  });
}

function json(response: ServerResponse, status: number, value: unknown, type = "application/json"): void {
  const text = JSON.stringify(value);
  response.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
  response.end(text);
}

async function listen(server: Server, requests: string[]): Promise<SecretManagerStub> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Settings of the Vault stub. */
export interface VaultStubOptions {
  /** KV v2 secrets by `MOUNT/PATH`. */
  readonly secrets: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** A static token that may read. */
  readonly rootToken?: string;
  /** AppRole credentials that log in; each login issues a fresh token. */
  readonly roleId?: string;
  readonly secretId?: string;
}

/** Starts a HashiCorp Vault stand-in (KV v2 + AppRole). `revokeTokens()` makes issued tokens expire. */
export async function startVaultStub(options: VaultStubOptions): Promise<SecretManagerStub & { revokeTokens(): void }> {
  const requests: string[] = [];
  const tokens = new Set<string>(options.rootToken === undefined ? [] : [options.rootToken]);
  let issued = 0;
  const server = createServer(async (request, response) => {
    const path = new URL(request.url ?? "/", "http://vault").pathname;
    requests.push(`${request.method} ${path}`);
    const text = await body(request);
    if (request.method === "POST" && path === "/v1/auth/approle/login") {
      const login = JSON.parse(text || "{}") as { role_id?: string; secret_id?: string };
      if (login.role_id !== options.roleId || login.secret_id !== options.secretId || options.roleId === undefined) {
        return json(response, 400, { errors: ["invalid role or secret ID"] });
      }
      const token = `hvs.issued-${++issued}`;
      tokens.add(token);
      return json(response, 200, { auth: { client_token: token, lease_duration: 3600, renewable: true } });
    }
    const token = request.headers["x-vault-token"];
    if (typeof token !== "string" || !tokens.has(token)) return json(response, 403, { errors: ["permission denied"] });
    const read = request.method === "GET" ? /^\/v1\/([^/]+)\/data\/(.+)$/.exec(path) : null;
    if (read === null) return json(response, 404, { errors: [] });
    const data = options.secrets[`${read[1]}/${read[2]}`];
    if (data === undefined) return json(response, 404, { errors: [] });
    return json(response, 200, {
      data: { data, metadata: { version: 1, created_time: new Date(0).toISOString(), deletion_time: "" } },
    });
  });
  const stub = await listen(server, requests);
  return {
    ...stub,
    revokeTokens: () => {
      for (const token of tokens) if (token !== options.rootToken) tokens.delete(token);
    },
  };
}

/** Starts an AWS Secrets Manager stand-in serving `secrets` (by name) to GetSecretValue. */
export async function startAwsSecretsStub(secrets: Readonly<Record<string, string>>): Promise<SecretManagerStub> {
  const requests: string[] = [];
  const type = "application/x-amz-json-1.1";
  const server = createServer(async (request, response) => {
    const target = String(request.headers["x-amz-target"] ?? "");
    const input = JSON.parse((await body(request)) || "{}") as { SecretId?: string };
    requests.push(`${target} ${input.SecretId ?? ""}`);
    if (!String(request.headers.authorization ?? "").startsWith("AWS4-HMAC-SHA256")) {
      return json(response, 400, { __type: "UnrecognizedClientException", message: "unsigned request" }, type);
    }
    if (target !== "secretsmanager.GetSecretValue") {
      return json(response, 400, { __type: "InvalidAction", message: `no ${target}` }, type);
    }
    const value = input.SecretId === undefined ? undefined : secrets[input.SecretId];
    if (value === undefined) {
      return json(
        response,
        400,
        { __type: "ResourceNotFoundException", message: "Secrets Manager can't find the specified secret." },
        type,
      );
    }
    return json(
      response,
      200,
      {
        ARN: `arn:aws:secretsmanager:us-east-1:000000000000:secret:${input.SecretId}-AbCdEf`,
        Name: input.SecretId,
        SecretString: value,
        VersionId: "00000000-0000-0000-0000-000000000001",
        VersionStages: ["AWSCURRENT"],
        CreatedDate: 0,
      },
      type,
    );
  });
  return listen(server, requests);
}
