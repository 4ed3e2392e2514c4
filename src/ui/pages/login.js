// Sign-in: the token, or an account's name and password, go to POST /v1/session once, which sets
// the HttpOnly session cookie; the page never keeps them (no storage, no URL).
import { api } from "../api.js";
import { errorBox } from "../format.js";
import { state } from "../state.js";

const TOKEN_FORM =
  '<p class="muted">This server requires a token. Create one with <code>kiln tokens create NAME --role viewer</code>.</p>' +
  '<form id="login" class="row"><input type="password" name="token" id="token" autocomplete="off" placeholder="kiln_…" aria-label="Token" required style="flex:1">' +
  '<button type="submit" class="primary">Sign in</button></form>';

// With accounts, a name and password; a token still signs in (a password field holding kiln_…).
const ACCOUNT_FORM =
  '<p class="muted">Sign in with your account, or leave the name empty and paste a token.</p>' +
  '<form id="login" style="display:flex;flex-direction:column;gap:8px"><input type="text" name="name" id="account-name" autocomplete="username" placeholder="Name" aria-label="Name">' +
  '<input type="password" name="password" id="account-password" autocomplete="current-password" placeholder="Password or kiln_… token" aria-label="Password" required>' +
  '<button type="submit" class="primary">Sign in</button></form>';

/** Renders the sign-in form; `onSignedIn` runs once the cookie is set. */
export function renderLogin(root, { onSignedIn, accounts = false }) {
  root.innerHTML = `<div class="card" style="max-width:460px;margin:40px auto"><h1>Sign in to Kiln</h1>${accounts ? ACCOUNT_FORM : TOKEN_FORM}<div id="login-error"></div></div>`;
  const form = root.querySelector("#login");
  form.querySelector("input").focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const inputs = [...form.querySelectorAll("input")];
    const [first = "", second = ""] = inputs.map((input) => input.value);
    const body = !accounts
      ? { token: first.trim() }
      : first.trim()
        ? { name: first.trim(), password: second }
        : { token: second.trim() };
    try {
      state.session = await api("/v1/session", { method: "POST", body, namespace: null });
      for (const input of inputs) input.value = "";
      onSignedIn();
    } catch (error) {
      root.querySelector("#login-error").innerHTML = errorBox(error);
    }
  });
}
