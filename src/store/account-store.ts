import { createHash, randomBytes } from "node:crypto";
import { KilnError } from "../errors.ts";
import type { TokenRole } from "./control-store.ts";
import type { SqlDriver } from "./sql-driver.ts";

/**
 * Accounts in the store: users who sign in with a name and a password (HTTP Basic, the web UI),
 * each with one role in one namespace (or `*`), as tokens have. The store keeps the password's
 * hash only (src/server/password-hash.ts makes and checks it), and the SHA-256 of each UI session.
 * Part of `Store` as `store.accounts`; checked on SQLite and PostgreSQL by accounts.contract.ts.
 */
export interface AccountStore {
  /** Creates an account; ACCOUNT_EXISTS when the name is taken. */
  createAccount(p: Readonly<CreateAccountParams>): Promise<Account>;
  /** Every account, by name. */
  listAccounts(): Promise<Account[]>;
  /** An account with its password hash (sign-in), or undefined. */
  getAccount(p: Readonly<{ name: string }>): Promise<AccountRecord | undefined>;
  /** Replaces an account's password hash and ends its sessions; ACCOUNT_NOT_FOUND. */
  setAccountPassword(p: Readonly<{ name: string; passwordHash: string }>): Promise<Account>;
  /** Deletes an account and its sessions; false when there was none. */
  deleteAccount(p: Readonly<{ name: string }>): Promise<boolean>;
  /** Whether any account exists (the UI then offers a name + password sign-in). */
  hasAccounts(): Promise<boolean>;
  /** Records a successful sign-in. */
  touchAccount(p: Readonly<{ name: string }>): Promise<void>;
  /** Starts a UI session of an account; the plaintext (the cookie value) is in the result only. */
  createAccountSession(p: Readonly<{ account: string; ttlMs: number }>): Promise<string>;
  /** The account of a live session (by the cookie value), or undefined when unknown or expired. */
  findAccountSession(p: Readonly<{ plaintext: string }>): Promise<string | undefined>;
  /** Ends one session (sign-out). */
  deleteAccountSession(p: Readonly<{ plaintext: string }>): Promise<void>;
}

/** The roles an account may have (workers use tokens). */
export const ACCOUNT_ROLES = ["admin", "developer", "viewer"] as const satisfies readonly TokenRole[];
export type AccountRole = (typeof ACCOUNT_ROLES)[number];

/** Params of createAccount. */
export interface CreateAccountParams {
  readonly name: string;
  /** A namespace, or `*` (every namespace). */
  readonly namespace: string;
  readonly role: AccountRole;
  readonly passwordHash: string;
}

/** An account as listed (never its password hash). */
export interface Account {
  readonly name: string;
  readonly namespace: string;
  readonly role: AccountRole;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly lastLoginAt: number | null;
}

/** An account with its password hash. */
export interface AccountRecord extends Account {
  readonly passwordHash: string;
}

/** The prefix of an account session cookie (tells it from a token or a loopback session). */
export const ACCOUNT_SESSION_PREFIX = "as.";

const NAME = /^[A-Za-z0-9][\w.@-]{0,63}$/;

interface AccountRow {
  name: string;
  namespace: string;
  role: string;
  password_hash: string;
  created_at: number | string;
  updated_at: number | string;
  last_login_at: number | string | null;
}

/** Accounts on Kiln's SQL database (tables accounts and account_sessions, migration 14). */
export class SqlAccountStore implements AccountStore {
  readonly #driver: SqlDriver;
  readonly #clock: () => number;

  constructor(driver: SqlDriver, clock: () => number) {
    this.#driver = driver;
    this.#clock = clock;
  }

  async createAccount(p: Readonly<CreateAccountParams>): Promise<Account> {
    if (!NAME.test(p.name)) {
      throw new KilnError(
        "INVALID_INPUT",
        `Expected an account name of 1-64 letters, digits, ".", "_", "-" or "@" (starting with a letter or digit), got "${p.name}"`,
      );
    }
    const now = this.#clock();
    const inserted = await this.#driver.run(
      `INSERT INTO accounts (name, namespace, role, password_hash, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
      [p.name, p.namespace, p.role, p.passwordHash, now, now],
    );
    if (inserted === 0) {
      throw new KilnError(
        "ACCOUNT_EXISTS",
        `An account "${p.name}" already exists; change its password with \`kiln users passwd ${p.name}\``,
      );
    }
    return { name: p.name, namespace: p.namespace, role: p.role, createdAt: now, updatedAt: now, lastLoginAt: null };
  }

  async listAccounts(): Promise<Account[]> {
    const rows = await this.#driver.all<AccountRow>("SELECT * FROM accounts ORDER BY name");
    return rows.map((r) => withoutHash(toRecord(r)));
  }

  async getAccount(p: Readonly<{ name: string }>): Promise<AccountRecord | undefined> {
    const [row] = await this.#driver.all<AccountRow>("SELECT * FROM accounts WHERE name = ?", [p.name]);
    return row ? toRecord(row) : undefined;
  }

  async setAccountPassword(p: Readonly<{ name: string; passwordHash: string }>): Promise<Account> {
    const now = this.#clock();
    return this.#driver.transaction(async (tx) => {
      const rows = await tx.all<AccountRow>(
        "UPDATE accounts SET password_hash = ?, updated_at = ? WHERE name = ? RETURNING *",
        [p.passwordHash, now, p.name],
      );
      const [row] = rows;
      if (!row) throw notFound(p.name);
      // A new password ends the sessions signed in with the old one.
      await tx.run("DELETE FROM account_sessions WHERE account = ?", [p.name]);
      return withoutHash(toRecord(row));
    });
  }

  async deleteAccount(p: Readonly<{ name: string }>): Promise<boolean> {
    return this.#driver.transaction(async (tx) => {
      await tx.run("DELETE FROM account_sessions WHERE account = ?", [p.name]);
      return (await tx.run("DELETE FROM accounts WHERE name = ?", [p.name])) > 0;
    });
  }

  async hasAccounts(): Promise<boolean> {
    return (await this.#driver.all("SELECT 1 AS one FROM accounts LIMIT 1")).length > 0;
  }

  async touchAccount(p: Readonly<{ name: string }>): Promise<void> {
    await this.#driver.run("UPDATE accounts SET last_login_at = ? WHERE name = ?", [this.#clock(), p.name]);
  }

  async createAccountSession(p: Readonly<{ account: string; ttlMs: number }>): Promise<string> {
    const plaintext = `${ACCOUNT_SESSION_PREFIX}${randomBytes(32).toString("base64url")}`;
    const now = this.#clock();
    // Expired sessions of the account go with each new one, so the table stays small.
    await this.#driver.run("DELETE FROM account_sessions WHERE account = ? AND expires_at <= ?", [p.account, now]);
    await this.#driver.run("INSERT INTO account_sessions (hash, account, created_at, expires_at) VALUES (?, ?, ?, ?)", [
      sessionHash(plaintext),
      p.account,
      now,
      now + p.ttlMs,
    ]);
    return plaintext;
  }

  async findAccountSession(p: Readonly<{ plaintext: string }>): Promise<string | undefined> {
    const [row] = await this.#driver.all<{ account: string }>(
      "SELECT account FROM account_sessions WHERE hash = ? AND expires_at > ?",
      [sessionHash(p.plaintext), this.#clock()],
    );
    return row?.account;
  }

  async deleteAccountSession(p: Readonly<{ plaintext: string }>): Promise<void> {
    await this.#driver.run("DELETE FROM account_sessions WHERE hash = ?", [sessionHash(p.plaintext)]);
  }
}

const sessionHash = (plaintext: string) => createHash("sha256").update(plaintext).digest("hex");

function notFound(name: string): KilnError {
  return new KilnError("ACCOUNT_NOT_FOUND", `No account "${name}"; list them with \`kiln users list\``);
}

function toRecord(row: AccountRow): AccountRecord {
  return {
    name: row.name,
    namespace: row.namespace,
    role: row.role as AccountRole,
    passwordHash: row.password_hash,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    lastLoginAt: row.last_login_at === null ? null : Number(row.last_login_at),
  };
}

function withoutHash(record: AccountRecord): Account {
  const { passwordHash: _, ...account } = record;
  return account;
}
