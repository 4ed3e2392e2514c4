// Kiln's web UI (first slice): the runs page. Talks to the API over HTTP only, with the
// session cookie (never a token in the URL or in browser storage).
const root = document.getElementById("app");

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function relative(ms) {
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

async function api(path, method = "GET") {
  const res = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    ...(method === "GET" ? {} : { body: "{}" }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const error = body.error ?? { code: `HTTP_${res.status}`, message: res.statusText };
    throw Object.assign(new Error(error.message), { code: error.code });
  }
  return body;
}

async function renderRuns() {
  try {
    const { items } = await api("/v1/runs?limit=50");
    if (items.length === 0) {
      root.innerHTML = '<p class="muted">No runs yet — start one with <code>kiln start hello</code>.</p>';
      return;
    }
    const rows = items
      .map(
        (run) =>
          `<tr data-run-id="${escapeHtml(run.id)}"><td><span class="chip">${escapeHtml(run.status)}</span></td>` +
          `<td>${escapeHtml(run.name)}</td><td>${escapeHtml(run.type)}</td><td>${escapeHtml(run.queue ?? "")}</td>` +
          `<td title="${escapeHtml(new Date(run.createdAt).toISOString())}">${escapeHtml(relative(run.createdAt))}</td>` +
          `<td>${escapeHtml(run.attempt)}</td><td class="muted">${escapeHtml(run.id)}</td></tr>`,
      )
      .join("");
    root.innerHTML =
      "<table><thead><tr><th>status</th><th>name</th><th>type</th><th>queue</th><th>created</th><th>attempt</th><th>id</th></tr></thead>" +
      `<tbody>${rows}</tbody></table>`;
  } catch (error) {
    root.innerHTML = `<p class="error">${escapeHtml(error.code ?? "ERROR")}: ${escapeHtml(error.message)}</p>`;
  }
}

const pre = (value) => `<pre>${escapeHtml(JSON.stringify(value ?? null, null, 2))}</pre>`;

async function renderRun(id) {
  try {
    const run = await api(`/v1/runs/${encodeURIComponent(id)}`);
    const { items: steps } = await api(`/v1/runs/${encodeURIComponent(id)}/steps`);
    const stepRows = steps
      .map(
        (step) =>
          `<tr><td>${escapeHtml(step.name)}</td><td>${escapeHtml(step.type)}</td><td><span class="chip">${escapeHtml(step.status)}</span></td>` +
          `<td>${escapeHtml(step.attempt)}</td><td>${step.finishedAt === null ? "" : `${step.finishedAt - step.startedAt} ms`}</td></tr>`,
      )
      .join("");
    const error = run.error
      ? `<p class="error">${escapeHtml(run.error.code)}: ${escapeHtml(run.error.message)}</p>`
      : "";
    root.innerHTML =
      `<p><a href="/" data-nav>← runs</a></p><h2>${escapeHtml(run.name)} <span class="chip">${escapeHtml(run.status)}</span></h2>` +
      `<p class="muted">${escapeHtml(run.id)} · attempt ${escapeHtml(run.attempt)}</p>` +
      '<p><button data-action="cancel">Cancel</button> <button data-action="retry">Retry</button></p>' +
      `${error}<h3>Input</h3>${pre(run.input)}<h3>Output</h3>${pre(run.output)}` +
      `<h3>Steps</h3><table><thead><tr><th>name</th><th>type</th><th>status</th><th>attempt</th><th>duration</th></tr></thead><tbody>${stepRows}</tbody></table>`;
    for (const button of root.querySelectorAll("button[data-action]")) {
      button.addEventListener("click", async () => {
        try {
          await api(`/v1/runs/${encodeURIComponent(id)}/${button.dataset.action}`, "POST");
          await renderRun(id);
        } catch (failure) {
          root.insertAdjacentHTML(
            "afterbegin",
            `<p class="error">${escapeHtml(failure.code ?? "ERROR")}: ${escapeHtml(failure.message)}</p>`,
          );
        }
      });
    }
  } catch (error) {
    root.innerHTML = `<p class="error">${escapeHtml(error.code ?? "ERROR")}: ${escapeHtml(error.message)}</p>`;
  }
}

// Deep-linkable pages through the history API: / (runs) and /runs/:id (run detail).
function route() {
  const match = /^\/runs\/([^/]+)$/.exec(location.pathname);
  return match ? renderRun(decodeURIComponent(match[1])) : renderRuns();
}

root.addEventListener("click", (event) => {
  const row = event.target.closest("tr[data-run-id]");
  const link = event.target.closest("a[data-nav]");
  if (!row && !link) return;
  event.preventDefault();
  history.pushState(null, "", row ? `/runs/${encodeURIComponent(row.dataset.runId)}` : link.getAttribute("href"));
  route();
});
window.addEventListener("popstate", route);

// Live: refresh every two seconds (the /v1/stream feed is the next step).
route();
setInterval(route, 2000);
