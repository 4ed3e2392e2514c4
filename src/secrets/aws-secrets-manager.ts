import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { KilnError } from "../errors.ts";
import { pickSecretField, splitSecretPath } from "./secret-path.ts";

/** Where AWS Secrets Manager is: the region, and an endpoint override (a VPC endpoint, or a stand-in in tests). */
export interface AwsSecretsOptions {
  readonly region?: string;
  readonly endpoint?: string;
}

/**
 * The Secrets Manager settings of a worker's environment: AWS_REGION (or AWS_DEFAULT_REGION) and
 * AWS_ENDPOINT_URL_SECRETS_MANAGER (or AWS_ENDPOINT_URL). Credentials come from the SDK's usual
 * chain (environment, shared files, instance or pod role).
 */
export function awsSecretsOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): AwsSecretsOptions {
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  const endpoint = env.AWS_ENDPOINT_URL_SECRETS_MANAGER || env.AWS_ENDPOINT_URL;
  return { ...(region ? { region } : {}), ...(endpoint ? { endpoint } : {}) };
}

/**
 * Reads `aws:SECRET_ID#KEY` with GetSecretValue: the secret string, or with `#KEY` the value of
 * that key in a JSON secret (the console's key/value form). SECRET_ID is a name or an ARN.
 */
export function createAwsSecretsProvider(options: AwsSecretsOptions): (ref: string) => Promise<string> {
  const client = new SecretsManagerClient({
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    maxAttempts: 2,
  });
  return async (rest) => {
    const ref = `aws:${rest}`;
    // An ARN holds no '#', so the last '#' always starts the key.
    const { path: secretId, field } = splitSecretPath(ref, rest);
    let text: string | undefined;
    try {
      const answer = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
      text =
        answer.SecretString ?? (answer.SecretBinary ? Buffer.from(answer.SecretBinary).toString("utf8") : undefined);
    } catch (error) {
      const name = (error as { name?: string }).name ?? "Error";
      if (name === "ResourceNotFoundException") {
        throw new KilnError(
          "SECRET_NOT_FOUND",
          `The secret ${ref} is not available: AWS Secrets Manager has no ${secretId}`,
          {
            retryable: false,
            data: { ref },
          },
        );
      }
      throw new KilnError(
        "SECRET_PROVIDER_UNAVAILABLE",
        `The secret ${ref} could not be read from AWS Secrets Manager: ${name}: ${(error as Error).message}` +
          " (check AWS_REGION, the credentials and secretsmanager:GetSecretValue permission)",
        { cause: error, data: { ref } },
      );
    }
    if (text === undefined) {
      throw new KilnError("SECRET_NOT_FOUND", `The secret ${ref} is not available: it has no value`, {
        retryable: false,
      });
    }
    if (field === null) return text;
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      throw new KilnError(
        "SECRET_NOT_FOUND",
        `The secret ${ref} is not available: ${secretId} is not a JSON object, so it has no key ${field}`,
        {
          retryable: false,
          data: { ref },
        },
      );
    }
    return pickSecretField(ref, data as Record<string, unknown>, field);
  };
}
