import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { KilnError } from "../errors.ts";
import type { MasterKeyring } from "./master-key.ts";

/** A secret value encrypted with AES-256-GCM (base64 fields) and the id of its key. */
export interface SecretCipher {
  readonly ciphertext: string;
  readonly iv: string;
  readonly authTag: string;
  readonly keyId: string;
}

/**
 * The additional authenticated data: the secret's namespace and name, so a ciphertext copied to
 * another row (another namespace) fails to decrypt instead of leaking.
 */
function aad(namespace: string, name: string): Buffer {
  return Buffer.from(`kiln-secret\u0000${namespace}\u0000${name}`, "utf8");
}

/** Encrypts a secret value with the keyring's current key (fresh 96-bit IV each time). */
export function encryptSecret(keyring: MasterKeyring, namespace: string, name: string, value: string): SecretCipher {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", keyring.current.key, iv);
  cipher.setAAD(aad(namespace, name));
  const ciphertext = Buffer.concat([cipher.update(value, "utf8"), cipher.final()]);
  return {
    ciphertext: ciphertext.toString("base64"),
    iv: iv.toString("base64"),
    authTag: cipher.getAuthTag().toString("base64"),
    keyId: keyring.current.id,
  };
}

/** Decrypts a stored secret; fails with INVALID_CONFIG when its key is missing or it was tampered with. */
export function decryptSecret(keyring: MasterKeyring, namespace: string, name: string, stored: SecretCipher): string {
  const key = keyring.keys.get(stored.keyId);
  if (!key) {
    throw new KilnError(
      "INVALID_CONFIG",
      `The secret ${name} of namespace "${namespace}" is encrypted with master key ${stored.keyId}, which this server does not have; set KILN_MASTER_KEY to the keys every server shares`,
    );
  }
  try {
    const decipher = createDecipheriv("aes-256-gcm", key.key, Buffer.from(stored.iv, "base64"));
    decipher.setAAD(aad(namespace, name));
    decipher.setAuthTag(Buffer.from(stored.authTag, "base64"));
    return Buffer.concat([decipher.update(Buffer.from(stored.ciphertext, "base64")), decipher.final()]).toString(
      "utf8",
    );
  } catch (cause) {
    throw new KilnError(
      "INVALID_CONFIG",
      `The secret ${name} of namespace "${namespace}" does not decrypt with key ${stored.keyId}: its stored data was altered`,
      { cause },
    );
  }
}
