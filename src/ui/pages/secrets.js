// Secrets: names only (values never leave the server); set and delete for roles that may.
import { api } from "../api.js";
import { empty, errorBox, esc, time } from "../format.js";
import { flash } from "../nav.js";
import { canManageSecrets } from "../state.js";

/** Renders the secrets page. */
export async function renderSecrets(root) {
  if (!canManageSecrets()) {
    root.innerHTML = `<h1>Secrets</h1>${empty("Secrets are for admins and developers; this session's role may not see them.")}`;
    return;
  }
  const { items } = await api("/v1/secrets");
  root.innerHTML =
    '<h1>Secrets</h1><p class="muted">Names only: values are write-only and reach scripts as environment variables.</p>' +
    '<form id="set-secret" class="row card"><input name="name" placeholder="NAME" aria-label="Secret name" required pattern="[A-Za-z_][A-Za-z0-9_]*">' +
    '<input name="value" type="password" autocomplete="off" placeholder="value" aria-label="Secret value" required><button class="primary" type="submit">Set</button><span class="form-error"></span></form>' +
    (items.length === 0
      ? empty("No secrets yet — set one above or with <code>kiln secrets set NAME</code>.")
      : '<table id="secrets"><thead><tr><th>name</th><th>updated</th><th>created</th><th></th></tr></thead><tbody>' +
        items
          .map(
            (s) =>
              `<tr><td class="mono">${esc(s.name)}</td><td>${time(s.updatedAt)}</td><td>${time(s.createdAt)}</td><td><button type="button" class="danger" data-delete="${esc(s.name)}">Delete</button></td></tr>`,
          )
          .join("") +
        "</tbody></table>");
  const form = root.querySelector("#set-secret");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const name = String(data.get("name")).trim();
    try {
      await api(`/v1/secrets/${encodeURIComponent(name)}`, {
        method: "PUT",
        body: { value: String(data.get("value")) },
      });
      flash(`Secret ${name} set`);
      await renderSecrets(root);
    } catch (error) {
      form.querySelector(".form-error").innerHTML = errorBox(error);
    }
  });
  root.querySelector("#secrets")?.addEventListener("click", async (event) => {
    const name = event.target.closest("button[data-delete]")?.dataset.delete;
    if (!name || !confirm(`Delete secret ${name}?`)) return;
    try {
      await api(`/v1/secrets/${encodeURIComponent(name)}`, { method: "DELETE" });
      flash(`Secret ${name} deleted`);
      await renderSecrets(root);
    } catch (error) {
      flash(error);
    }
  });
}
