// What every page reads: who the session is and which namespace the UI acts in.
export const state = {
  /** The GET /v1/session answer: { namespace, role, mode, via }, or null before sign-in. */
  session: null,
  /** The namespace the UI acts in (the `ns` query parameter, else the session's). */
  namespace: null,
};

const WRITE_ROLES = new Set(["admin", "developer"]);

/** Whether the session may start, cancel, retry runs and send events (the API decides too). */
export function canWrite() {
  return WRITE_ROLES.has(state.session?.role);
}

/** Secrets need a credential even on loopback: a token or the UI's session cookie. */
export function canManageSecrets() {
  return WRITE_ROLES.has(state.session?.role) && state.session?.via !== "none";
}

/** Tokens are an admin's. */
export function isAdmin() {
  return state.session?.role === "admin" && state.session?.via !== "none";
}
