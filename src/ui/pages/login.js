// Sign-in: the token goes to POST /v1/session once, which sets the HttpOnly session cookie; the
// page never keeps it (no storage, no URL).
import { api } from "../api.js";
import { errorBox } from "../format.js";
import { state } from "../state.js";

/** Renders the sign-in form; `onSignedIn` runs once the cookie is set. */
export function renderLogin(root, { onSignedIn }) {
  root.innerHTML =
    '<div class="card" style="max-width:460px;margin:40px auto"><h1>Sign in to Kiln</h1>' +
    '<p class="muted">This server requires a token. Create one with <code>kiln tokens create NAME --role viewer</code>.</p>' +
    '<form id="login" class="row"><input type="password" name="token" id="token" autocomplete="off" placeholder="kiln_…" aria-label="Token" required style="flex:1">' +
    '<button type="submit" class="primary">Sign in</button></form><div id="login-error"></div></div>';
  const form = root.querySelector("#login");
  form.querySelector("input").focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = form.querySelector("input");
    try {
      state.session = await api("/v1/session", {
        method: "POST",
        body: { token: input.value.trim() },
        namespace: null,
      });
      input.value = "";
      onSignedIn();
    } catch (error) {
      root.querySelector("#login-error").innerHTML = errorBox(error);
    }
  });
}
