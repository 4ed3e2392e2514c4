import { createHmac, randomBytes } from "node:crypto";
import { KilnError } from "../errors.ts";
import type { AccountRecord, AccountStore } from "../store/account-store.ts";
import type { Principal } from "./auth.ts";
import { UNKNOWN_ACCOUNT_HASH, verifyPassword } from "./password-hash.ts";

/** How long a UI session of an account lasts. */
export const ACCOUNT_SESSION_TTL_MS = 12 * 3_600_000;

/**
 * Checks account credentials (HTTP Basic, UI sign-in) and account sessions. A verified name +
 * password is remembered for `ttlMs` under an HMAC with a key of this process (never the password
 * itself), bound to the stored hash: scrypt is too slow to run on every Basic request, and a
 * password change is seen as soon as the account is read again. Account reads are cached like
 * tokens (token-cache.ts): a change on another server is seen within `ttlMs`.
 */
export class AccountAuth {
  readonly #store: AccountStore;
  readonly #ttlMs: number;
  readonly #clock: () => number;
  readonly #key = randomBytes(32);
  readonly #accounts = new Map<string, { readonly account: AccountRecord | undefined; readonly at: number }>();
  readonly #verified = new Map<string, number>();

  constructor(store: AccountStore, options: { ttlMs?: number; clock?: () => number } = {}) {
    this.#store = store;
    this.#ttlMs = options.ttlMs ?? 5000;
    this.#clock = options.clock ?? Date.now;
  }

  /** The principal of a name + password; UNAUTHENTICATED (same message) for an unknown name or a wrong password. */
  async verify(name: string, password: string): Promise<Principal> {
    const account = await this.#account(name);
    const mark = this.#mark(name, password, account?.passwordHash ?? UNKNOWN_ACCOUNT_HASH);
    const now = this.#clock();
    const seen = this.#verified.get(mark);
    if (account && seen !== undefined && now - seen < this.#ttlMs) return principalOf(account);
    // Always one scrypt, even for an unknown name, so names cannot be told apart by timing.
    const ok = await verifyPassword(password, account?.passwordHash ?? UNKNOWN_ACCOUNT_HASH);
    if (!account || !ok) {
      throw new KilnError(
        "UNAUTHENTICATED",
        "Wrong account name or password (send the account's password with HTTP Basic, or a token as Bearer)",
      );
    }
    if (this.#verified.size >= 10_000) this.#verified.clear();
    this.#verified.set(mark, now);
    return principalOf(account);
  }

  /** The principal of an account session cookie; UNAUTHENTICATED when it ended. */
  async sessionPrincipal(plaintext: string): Promise<Principal> {
    const name = await this.#store.findAccountSession({ plaintext });
    const account = name === undefined ? undefined : await this.#account(name);
    if (!account) {
      throw new KilnError(
        "UNAUTHENTICATED",
        "The UI session has ended (signed out, expired or password changed); sign in again",
      );
    }
    return principalOf(account);
  }

  /** Forgets cached accounts (after a change on this server). */
  invalidate(): void {
    this.#accounts.clear();
    this.#verified.clear();
  }

  async #account(name: string): Promise<AccountRecord | undefined> {
    const now = this.#clock();
    const hit = this.#accounts.get(name);
    if (hit && now - hit.at < this.#ttlMs) return hit.account;
    const account = await this.#store.getAccount({ name });
    if (this.#accounts.size >= 10_000) this.#accounts.clear();
    this.#accounts.set(name, { account, at: now });
    return account;
  }

  #mark(name: string, password: string, hash: string): string {
    return createHmac("sha256", this.#key).update(`${name}\0${password}\0${hash}`).digest("base64url");
  }
}

/** The principal an account acts as. */
export function principalOf(account: Pick<AccountRecord, "name" | "role" | "namespace">): Principal {
  return { kind: "account", tokenId: null, name: account.name, role: account.role, namespace: account.namespace };
}
