import type { S3Client } from "@aws-sdk/client-s3";
import { KilnError } from "../../errors.ts";
import { checkKey } from "./local-object-store.ts";
import type { ObjectEntry, ObjectStore, StoredObject } from "./object-store.ts";

/** How to reach an S3-compatible bucket. */
export interface S3StoreOptions {
  readonly bucket: string;
  /** The service URL (MinIO, Ceph, R2, a local server); default AWS for the region. */
  readonly endpoint?: string;
  readonly region: string;
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  /** `http://host/bucket/key` instead of `http://bucket.host/key` (default true: what self-hosted stores serve). */
  readonly pathStyle: boolean;
  /** Prepended to every key. */
  readonly prefix: string;
}

/** The AWS SDK, loaded on first use: it is large, and most CLI commands never touch S3. */
type S3Sdk = typeof import("@aws-sdk/client-s3");

const statusOf = (error: unknown): number | undefined =>
  (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

const notFound = (error: unknown) =>
  (error as Error).name === "NoSuchKey" || (error as Error).name === "NotFound" || statusOf(error) === 404;

/** A failed S3 call as STORAGE_FAILED: retryable for throttling, 5xx and network trouble. */
function storageFailure(what: string, error: unknown): KilnError {
  const status = statusOf(error);
  const retryable = status === undefined || status === 429 || status >= 500;
  return new KilnError("STORAGE_FAILED", `${what} failed: ${(error as Error).message}`, {
    retryable,
    cause: error,
    data: { ...(status === undefined ? {} : { status }), reason: (error as Error).name },
  });
}

/** Objects in an S3-compatible bucket through the AWS SDK v3 client; the sha256 is kept as metadata. */
export class S3ObjectStore implements ObjectStore {
  readonly #sdk: S3Sdk;
  readonly #client: S3Client;
  readonly #options: S3StoreOptions;
  readonly location: string;

  /** Loads the SDK and builds a client (no request is made yet). */
  static async open(options: S3StoreOptions): Promise<S3ObjectStore> {
    return new S3ObjectStore(await import("@aws-sdk/client-s3"), options);
  }

  private constructor(sdk: S3Sdk, options: S3StoreOptions) {
    this.#sdk = sdk;
    this.#options = options;
    this.location = `s3://${options.endpoint === undefined ? "" : `${options.endpoint.replace(/\/+$/, "")}/`}${options.bucket}`;
    this.#client = new sdk.S3Client({
      region: options.region,
      forcePathStyle: options.pathStyle,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      ...(options.accessKeyId === undefined
        ? {}
        : { credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey ?? "" } }),
      // Only the checksums S3 requires: many S3-compatible servers refuse the newer trailing checksums.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      maxAttempts: 1,
    });
  }

  #key(key: string): string {
    return `${this.#options.prefix}${checkKey(key)}`;
  }

  async #send<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw storageFailure(`${what} on ${this.location}`, error);
    }
  }

  async putObject(p: Readonly<{ key: string; body: Buffer; contentType: string; sha256: string }>): Promise<void> {
    const command = new this.#sdk.PutObjectCommand({
      Bucket: this.#options.bucket,
      Key: this.#key(p.key),
      Body: p.body,
      ContentType: p.contentType,
      Metadata: { sha256: p.sha256 },
    });
    await this.#send(`PUT ${p.key}`, () => this.#client.send(command));
  }

  async getObject(p: Readonly<{ key: string }>): Promise<StoredObject | undefined> {
    const command = new this.#sdk.GetObjectCommand({ Bucket: this.#options.bucket, Key: this.#key(p.key) });
    try {
      const response = await this.#client.send(command);
      const body = Buffer.from((await response.Body?.transformToByteArray()) ?? new Uint8Array());
      return { body, contentType: response.ContentType ?? null, sha256: response.Metadata?.sha256 ?? null };
    } catch (error) {
      if (notFound(error)) return undefined;
      throw storageFailure(`GET ${p.key} on ${this.location}`, error);
    }
  }

  async listObjects(p: Readonly<{ prefix: string; limit: number }>): Promise<ObjectEntry[]> {
    const out: ObjectEntry[] = [];
    let token: string | undefined;
    const strip = this.#options.prefix.length;
    do {
      const command = new this.#sdk.ListObjectsV2Command({
        Bucket: this.#options.bucket,
        Prefix: this.#options.prefix + p.prefix,
        MaxKeys: Math.min(1000, p.limit - out.length),
        ...(token === undefined ? {} : { ContinuationToken: token }),
      });
      const page = await this.#send(`LIST ${p.prefix}`, () => this.#client.send(command));
      for (const item of page.Contents ?? []) {
        if (item.Key === undefined || out.length >= p.limit) continue;
        out.push({
          key: item.Key.slice(strip),
          size: item.Size ?? 0,
          modified_at: item.LastModified?.toISOString() ?? null,
        });
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined && out.length < p.limit);
    return out;
  }

  async deleteObject(p: Readonly<{ key: string }>): Promise<boolean> {
    const key = { Bucket: this.#options.bucket, Key: this.#key(p.key) };
    try {
      await this.#client.send(new this.#sdk.HeadObjectCommand(key));
    } catch (error) {
      if (notFound(error)) return false;
      throw storageFailure(`HEAD ${p.key} on ${this.location}`, error);
    }
    await this.#send(`DELETE ${p.key}`, () => this.#client.send(new this.#sdk.DeleteObjectCommand(key)));
    return true;
  }

  /** Closes the client's sockets. */
  close(): void {
    this.#client.destroy();
  }
}
