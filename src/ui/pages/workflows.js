// Workflows and flows: the list, one workflow's versions, a version's source, and a start form.
import { api } from "../api.js";
import { copy, empty, esc, time } from "../format.js";
import { highlight } from "../highlight.js";
import { href } from "../nav.js";
import { canWrite } from "../state.js";
import { startForm, wireStartForm } from "../start-form.js";

const kind = (w) => (w.runtime === "flow" ? "flow" : `code (${w.runtime})`);

/** The list of deployed workflows. */
export async function renderWorkflows(root) {
  const { items } = await api("/v1/workflows?limit=1000");
  root.innerHTML =
    "<h1>Workflows</h1>" +
    (items.length === 0
      ? empty(
          "No workflows deployed — put one in <code>workflows/</code> and run <code>kiln dev</code>, or <code>kiln deploy NAME -f FILE</code>.",
        )
      : '<table id="workflows"><thead><tr><th>name</th><th>kind</th><th>latest version</th><th>versions</th><th>deployed</th><th>description</th></tr></thead><tbody>' +
        items
          .map((w) => {
            const link = href(`/workflows/${encodeURIComponent(w.name)}`);
            return `<tr data-href="${esc(link)}"><td><a data-nav href="${esc(link)}">${esc(w.name)}</a></td><td>${esc(kind(w))}</td><td>${esc(w.version)}</td><td>${esc(w.versions)}</td><td>${time(w.createdAt)}</td><td class="muted">${esc(w.description ?? "")}</td></tr>`;
          })
          .join("") +
        "</tbody></table>");
}

/** One workflow: versions, the chosen version's source (read-only), the start form. */
export async function renderWorkflow(root, [name], query) {
  const base = `/v1/workflows/${encodeURIComponent(name)}`;
  const { items: versions } = await api(`${base}/versions`);
  const version = query.get("version") ?? versions[0]?.version;
  const deployment = await api(`${base}/versions/${encodeURIComponent(version)}`);
  const graph =
    deployment.runtime === "flow"
      ? await api(`${base}/versions/${encodeURIComponent(version)}/graph`).catch(() => null)
      : null;
  const example = graph?.inputSchema?.properties
    ? JSON.stringify(Object.fromEntries(Object.keys(graph.inputSchema.properties).map((k) => [k, null])), null, 2)
    : "{}";
  root.innerHTML =
    `<p><a data-nav href="${esc(href("/workflows"))}">← workflows</a></p>` +
    `<h1>${esc(name)} <span class="chip">${esc(kind(deployment))}</span></h1>` +
    `<p class="muted">${esc(deployment.description ?? "")}</p>` +
    `<p><a data-nav href="${esc(href("/", { name }))}">runs of ${esc(name)} →</a></p>` +
    (canWrite() ? startForm("start-workflow", example) : "") +
    '<h2>Versions</h2><table id="versions"><thead><tr><th>version</th><th>runtime</th><th>deployed</th><th>content hash</th></tr></thead><tbody>' +
    versions
      .map((v) => {
        const link = href(`/workflows/${encodeURIComponent(name)}`, { version: v.version });
        return `<tr data-href="${esc(link)}" class="${v.version === version ? "selected" : ""}"><td><a data-nav href="${esc(link)}">${esc(v.version)}</a></td><td>${esc(v.runtime)}</td><td>${time(v.createdAt)}</td><td class="mono muted">${esc(v.contentHash.slice(0, 12))} ${copy(v.contentHash)}</td></tr>`;
      })
      .join("") +
    `</tbody></table><h2>Source of version ${esc(version)}</h2><pre id="source" class="source">${highlight(deployment.source)}</pre>`;
  if (canWrite()) {
    wireStartForm(root, "start-workflow", {
      type: "workflow",
      name,
      version: query.get("version"),
      schema: graph?.inputSchema ?? null,
    });
  }
}
