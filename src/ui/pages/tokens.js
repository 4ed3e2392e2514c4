// Tokens (admins): list, create (the secret is shown once), revoke.
import { api } from "../api.js";
import { copy, empty, errorBox, esc, time } from "../format.js";
import { flash } from "../nav.js";
import { isAdmin } from "../state.js";

/** Renders the tokens page. */
export async function renderTokens(root) {
  if (!isAdmin()) {
    root.innerHTML = `<h1>Tokens</h1>${empty("Tokens are managed by admins.")}`;
    return;
  }
  const { items } = await api("/v1/tokens");
  root.innerHTML =
    "<h1>Tokens</h1>" +
    '<form id="create-token" class="row card"><input name="name" placeholder="name" aria-label="Token name" required>' +
    '<select name="role" aria-label="Role"><option>viewer</option><option>developer</option><option>worker</option><option>admin</option></select>' +
    '<button class="primary" type="submit">Create</button><span class="form-error"></span></form><div id="new-token"></div>' +
    (items.length === 0
      ? empty("No tokens — create one above or with <code>kiln tokens create NAME --role viewer</code>.")
      : '<table id="tokens"><thead><tr><th>name</th><th>role</th><th>namespace</th><th>created</th><th>last used</th><th>id</th><th></th></tr></thead><tbody>' +
        items
          .map(
            (t) =>
              `<tr><td>${esc(t.name)}</td><td>${esc(t.role)}</td><td>${esc(t.namespace)}</td><td>${time(t.createdAt)}</td><td>${time(t.lastUsedAt ?? null)}</td><td class="mono muted">${esc(t.id)} ${copy(t.id)}</td><td><button type="button" class="danger" data-revoke="${esc(t.id)}">Revoke</button></td></tr>`,
          )
          .join("") +
        "</tbody></table>");
  const form = root.querySelector("#create-token");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    try {
      const created = await api("/v1/tokens", {
        method: "POST",
        body: { name: String(data.get("name")).trim(), role: String(data.get("role")) },
      });
      await renderTokens(root);
      root.querySelector("#new-token").innerHTML =
        `<div class="card"><strong>Copy this token now; it is not shown again:</strong> <code class="mono">${esc(created.token)}</code> ${copy(created.token)}</div>`;
    } catch (error) {
      form.querySelector(".form-error").innerHTML = errorBox(error);
    }
  });
  root.querySelector("#tokens")?.addEventListener("click", async (event) => {
    const id = event.target.closest("button[data-revoke]")?.dataset.revoke;
    if (!id || !confirm(`Revoke token ${id}?`)) return;
    try {
      await api(`/v1/tokens/${encodeURIComponent(id)}`, { method: "DELETE" });
      flash(`Token ${id} revoked`);
      await renderTokens(root);
    } catch (error) {
      flash(error);
    }
  });
}
