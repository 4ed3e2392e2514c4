import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { KilnError } from "../errors.ts";

/** One AES-256 master key and its id (a fingerprint, so every server derives the same id). */
export interface MasterKey {
  readonly id: string;
  readonly key: Buffer;
}

/**
 * The master keys a vault can decrypt with; `current` encrypts. Keys come from `KILN_MASTER_KEY`
 * (comma-separated, the first is current) or from the key file `<data>/master.key` (one key per
 * line, the first is current), which is generated with mode 0600 on first use.
 */
export interface MasterKeyring {
  readonly current: MasterKey;
  readonly keys: ReadonlyMap<string, MasterKey>;
  /** Where the keys came from: `env` (KILN_MASTER_KEY) or the key file's path. */
  readonly source: "env" | { readonly file: string };
  /** Problems worth logging (e.g. a key file readable by others). */
  readonly warnings: readonly string[];
}

/** The name of the generated key file in the data directory. */
export const MASTER_KEY_FILE = "master.key";

/** The id of a key: `k` + the first 12 hex digits of its SHA-256. */
export function masterKeyId(key: Buffer): string {
  return `k${createHash("sha256").update(key).digest("hex").slice(0, 12)}`;
}

/** Parses one key written as 64 hex digits or base64/base64url of 32 bytes. */
export function parseMasterKey(text: string, where: string): MasterKey {
  const t = text.trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, "hex");
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) key = Buffer.from(t.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  if (key?.length !== 32) {
    throw new KilnError(
      "INVALID_CONFIG",
      `Expected the master key in ${where} to be 32 bytes as 64 hex digits or base64 (e.g. \`openssl rand -base64 32\`), got ${t.length} characters`,
    );
  }
  return { id: masterKeyId(key), key };
}

function ring(keys: readonly MasterKey[], source: MasterKeyring["source"], warnings: string[]): MasterKeyring {
  const [current] = keys;
  if (!current) throw new KilnError("INVALID_CONFIG", "No master key was given");
  return { current, keys: new Map(keys.map((k) => [k.id, k])), source, warnings };
}

/** Options of loadMasterKeyring. */
export interface LoadMasterKeyringOptions {
  /** Where `master.key` lives (and is generated when KILN_MASTER_KEY is unset). */
  readonly dataDir: string;
  /** The environment to read KILN_MASTER_KEY from. Default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Loads the keyring from KILN_MASTER_KEY, else from `<dataDir>/master.key`, generating that file. */
export function loadMasterKeyring(options: LoadMasterKeyringOptions): MasterKeyring {
  const fromEnv = (options.env ?? process.env).KILN_MASTER_KEY;
  if (fromEnv !== undefined && fromEnv.trim() !== "") {
    const keys = fromEnv
      .split(",")
      .filter((k) => k.trim() !== "")
      .map((k, i) => parseMasterKey(k, `KILN_MASTER_KEY (key ${i + 1})`));
    return ring(keys, "env", []);
  }
  const file = join(options.dataDir, MASTER_KEY_FILE);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new KilnError("INVALID_CONFIG", `Could not read the master key file ${file}: ${(error as Error).message}`);
    }
    writeKeyFile(file, [randomBytes(32)]);
    text = readFileSync(file, "utf8");
  }
  const warnings: string[] = [];
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    warnings.push(`The master key file ${file} is readable by others (mode ${mode.toString(8)}); run chmod 600 on it`);
  }
  const keys = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l, i) => parseMasterKey(l, `${file} (line ${i + 1})`));
  return ring(keys, { file }, warnings);
}

function writeKeyFile(file: string, keys: readonly Buffer[]): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const body = `${keys.map((k) => k.toString("base64")).join("\n")}\n`;
  writeFileSync(file, body, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/**
 * A keyring with a new current key. From a key file: a fresh key is generated and written first
 * in the file (old keys stay, so secrets not yet re-encrypted remain readable). From
 * KILN_MASTER_KEY: the operator supplies the new key first in the list, so the keyring is returned
 * as it is, and rotation re-encrypts to its current key.
 */
export function addMasterKey(keyring: MasterKeyring): MasterKeyring {
  if (keyring.source === "env") return keyring;
  const fresh = randomBytes(32);
  const keys = [fresh, ...[...keyring.keys.values()].map((k) => k.key)];
  writeKeyFile(keyring.source.file, keys);
  return ring(
    keys.map((key) => ({ id: masterKeyId(key), key })),
    keyring.source,
    [],
  );
}
