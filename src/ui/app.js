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

async function api(path) {
  const res = await fetch(path, { credentials: "same-origin", headers: { "content-type": "application/json" } });
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

// Live: refresh every two seconds (the /v1/stream feed is the next step).
renderRuns();
setInterval(renderRuns, 2000);
