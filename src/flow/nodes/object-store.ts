/**
 * The object stores behind the storage nodes: a local directory or an S3-compatible bucket, both
 * seen through one small interface so the nodes (and email attachments) do not care which.
 */

/** One stored object, as a listing shows it. */
export interface ObjectEntry {
  readonly key: string;
  readonly size: number;
  /** ISO 8601, when the store knows it. */
  readonly modified_at: string | null;
}

/** The bytes of one object and what the store recorded with them. */
export interface StoredObject {
  readonly body: Buffer;
  readonly contentType: string | null;
  /** The sha256 recorded at put time, when the store keeps it. */
  readonly sha256: string | null;
}

/** A place objects are written to and read from by key. */
export interface ObjectStore {
  /** Where the objects live, without credentials (recorded in references). */
  readonly location: string;
  putObject(p: Readonly<{ key: string; body: Buffer; contentType: string; sha256: string }>): Promise<void>;
  /** The object, or undefined when there is none under this key. */
  getObject(p: Readonly<{ key: string }>): Promise<StoredObject | undefined>;
  listObjects(p: Readonly<{ prefix: string; limit: number }>): Promise<ObjectEntry[]>;
  /** Removes the object; false when there was none. */
  deleteObject(p: Readonly<{ key: string }>): Promise<boolean>;
}

/**
 * A value passed by reference: what storage.put records in run history instead of the value
 * itself, and what a later node (storage.get, an email attachment) reads back and verifies.
 */
export interface StorageRef {
  readonly location: string;
  readonly key: string;
  readonly size: number;
  readonly sha256: string;
  readonly content_type: string;
}
