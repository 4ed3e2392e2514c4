import { KilnError } from "../errors.ts";
import type { ControlStore, SecretInfo } from "../store/control-store.ts";
import { expectSecretName } from "../engine/names.ts";
import { addMasterKey, type LoadMasterKeyringOptions, loadMasterKeyring, type MasterKeyring } from "./master-key.ts";
import { decryptSecret, encryptSecret } from "./secret-cipher.ts";
import { sealInputFields, unsealInputFields } from "./sealed-input.ts";

/** The store methods the vault uses. */
export type VaultStore = Pick<
  ControlStore,
  "putSecret" | "getSecrets" | "listSecrets" | "listSecretRecords" | "deleteSecret" | "replaceSecretCiphers"
>;

/** Largest secret value accepted, in bytes. */
export const MAX_SECRET_BYTES = 65_536;

/** What rotateKey did. */
export interface RotateKeyResult {
  /** The key every secret is now encrypted with. */
  readonly keyId: string;
  /** Secrets re-encrypted by this call. */
  readonly reencrypted: number;
}

/**
 * Secrets encrypted at rest (AES-256-GCM, key ids for rotation) in the store. Values leave the
 * vault only through `getValues`, for the run that needs them; lists carry names only.
 */
export class SecretVault {
  readonly #store: VaultStore;
  #keyring: MasterKeyring;

  constructor(store: VaultStore, keyring: MasterKeyring) {
    this.#store = store;
    this.#keyring = keyring;
  }

  /** A vault over the store with the master keys of KILN_MASTER_KEY or `<dataDir>/master.key`. */
  static open(store: VaultStore, options: LoadMasterKeyringOptions): SecretVault {
    return new SecretVault(store, loadMasterKeyring(options));
  }

  /** The id of the key new values are encrypted with. */
  get keyId(): string {
    return this.#keyring.current.id;
  }

  /** Where the master keys come from: `env` (KILN_MASTER_KEY) or `file`. */
  get keySource(): "env" | "file" {
    return this.#keyring.source === "env" ? "env" : "file";
  }

  /** Problems with the key setup worth logging once. */
  get warnings(): readonly string[] {
    return this.#keyring.warnings;
  }

  /** The input with the listed secret fields sealed (see sealed-input.ts). */
  sealInput(p: Readonly<{ namespace: string; input: unknown; fields: readonly string[] }>): unknown {
    return sealInputFields(this.#keyring, p.namespace, p.input, p.fields);
  }

  /** The input with its sealed fields opened, for the worker that runs it. */
  unsealInput(p: Readonly<{ namespace: string; input: unknown }>): unknown {
    return unsealInputFields(this.#keyring, p.namespace, p.input);
  }

  /** Encrypts and stores a value (replacing any earlier one). */
  async set(
    p: Readonly<{ namespace: string; name: string; value: string }>,
  ): Promise<{ secret: SecretInfo; created: boolean }> {
    const name = expectSecretName(p.name);
    if (typeof p.value !== "string") throw new KilnError("INVALID_INPUT", `Expected the secret "value" to be a string`);
    const bytes = Buffer.byteLength(p.value);
    if (bytes > MAX_SECRET_BYTES) {
      throw new KilnError(
        "PAYLOAD_TOO_LARGE",
        `The secret ${name} is ${bytes} bytes, over the ${MAX_SECRET_BYTES}-byte limit`,
      );
    }
    const cipher = encryptSecret(this.#keyring, p.namespace, name, p.value);
    const result = await this.#store.putSecret({ namespace: p.namespace, name, ...cipher });
    return { secret: result.secret, created: result.created };
  }

  /** Secret names and metadata of a namespace (never values). */
  async list(p: Readonly<{ namespace: string }>): Promise<SecretInfo[]> {
    return this.#store.listSecrets(p);
  }

  /** Deletes a secret; SECRET_NOT_FOUND when there is none. */
  async delete(p: Readonly<{ namespace: string; name: string }>): Promise<void> {
    if (!(await this.#store.deleteSecret(p))) {
      throw new KilnError("SECRET_NOT_FOUND", `No secret ${p.name} in namespace "${p.namespace}"`);
    }
  }

  /** Decrypted values of the named secrets that exist (missing names are left out). */
  async getValues(p: Readonly<{ namespace: string; names: readonly string[] }>): Promise<Record<string, string>> {
    const records = await this.#store.getSecrets(p);
    const values: Record<string, string> = {};
    for (const r of records) values[r.name] = decryptSecret(this.#keyring, r.namespace, r.name, r);
    return values;
  }

  /**
   * Re-encrypts every secret with a new key. With a key file, a new key is generated (and written
   * first in the file); with KILN_MASTER_KEY, the new key must already be first in the list.
   */
  async rotateKey(): Promise<RotateKeyResult> {
    const before = this.#keyring;
    const records = await this.#store.listSecretRecords();
    if (before.source === "env" && before.keys.size === 1 && records.every((r) => r.keyId === before.current.id)) {
      throw new KilnError(
        "INVALID_CONFIG",
        "KILN_MASTER_KEY holds one key and every secret already uses it; to rotate, put a new key first: KILN_MASTER_KEY=NEW_KEY,OLD_KEY (on every server), then rotate again",
      );
    }
    // Decrypt everything before the keyring changes, so a bad record aborts with nothing changed.
    const plain = records.map((r) => ({ record: r, value: decryptSecret(before, r.namespace, r.name, r) }));
    const after = addMasterKey(before);
    this.#keyring = after;
    const items = plain
      .filter(({ record }) => before.source !== "env" || record.keyId !== after.current.id)
      .map(({ record, value }) => ({
        namespace: record.namespace,
        name: record.name,
        previousKeyId: record.keyId,
        ...encryptSecret(after, record.namespace, record.name, value),
      }));
    const reencrypted = await this.#store.replaceSecretCiphers({ items });
    return { keyId: after.current.id, reencrypted };
  }
}
