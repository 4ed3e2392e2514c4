// Webhooks: incoming endpoints (a signed POST /hooks/{namespace}/{name} starts a run), outgoing
// subscriptions, and the delivery log (status, response code, attempts, latency); writers may
// redeliver.
import { api } from "../api.js";
import { chip, copy, duration, empty, esc, time } from "../format.js";
import { flash, href } from "../nav.js";
import { canWrite, state } from "../state.js";

const DELIVERY_LIMIT = 50;
// Latency is in each delivery's attempt log: read it for the newest deliveries only.
const LATENCY_LOOKUPS = 20;

function endpointsTable(items) {
  if (items.length === 0) {
    return empty(
      "No incoming webhooks yet — add <code>webhooks:</code> to kiln.yaml or " +
        "<code>kiln webhooks create NAME --workflow hello --secret-from HOOK_SECRET</code>.",
    );
  }
  return (
    '<table id="webhook-endpoints"><thead><tr><th>name</th><th>starts</th><th>URL</th><th>signature</th><th>secret</th><th>source</th><th>updated</th></tr></thead><tbody>' +
    items
      .map((e) => {
        const url = `${location.origin}/hooks/${encodeURIComponent(e.namespace ?? state.namespace)}/${encodeURIComponent(e.name)}`;
        return (
          `<tr data-endpoint="${esc(e.name)}"><td>${esc(e.name)}</td><td><span class="muted">${esc(e.runType)}</span> ${esc(e.workflow)}</td>` +
          `<td class="mono">POST ${esc(url)} ${copy(url)}</td><td>${esc(e.scheme)}</td><td class="mono">${esc(e.secretName)}</td>` +
          `<td class="muted">${esc(e.source)}</td><td>${time(e.updatedAt)}</td></tr>`
        );
      })
      .join("") +
    "</tbody></table>"
  );
}

function subscriptionsTable(items) {
  if (items.length === 0) {
    return empty(
      "No outgoing subscriptions yet — <code>kiln webhooks subscribe https://example.com/hook --events run.completed,run.failed</code>.",
    );
  }
  return (
    '<table id="webhook-subscriptions"><thead><tr><th>URL</th><th>events</th><th>only</th><th>secret</th><th>created</th><th>id</th></tr></thead><tbody>' +
    items
      .map(
        (s) =>
          `<tr data-subscription="${esc(s.id)}"><td class="mono">${esc(s.url)}</td><td>${s.events.map((e) => `<code>${esc(e)}</code>`).join(" ")}</td>` +
          `<td>${esc(s.workflow ?? s.runId ?? "all runs")}</td><td class="mono">${esc(s.secretName)}</td><td>${time(s.createdAt)}</td>` +
          `<td class="mono muted">${esc(s.id)} ${copy(s.id)}</td></tr>`,
      )
      .join("") +
    "</tbody></table>"
  );
}

function deliveriesTable(items) {
  if (items.length === 0) {
    return empty("No deliveries yet — a subscribed event (a run completing, failing…) sends one.");
  }
  return (
    '<table id="webhook-deliveries"><thead><tr><th>status</th><th>event</th><th>run</th><th>response</th><th>attempts</th><th>latency</th><th>next attempt</th><th>created</th><th>id</th><th></th></tr></thead><tbody>' +
    items
      .map(
        (d) =>
          `<tr data-delivery="${esc(d.id)}"><td>${chip(d.status)}</td><td><code>${esc(d.event)}</code></td>` +
          `<td><a data-nav class="mono" href="${esc(href(`/runs/${encodeURIComponent(d.runId)}`))}">${esc(d.runId)}</a></td>` +
          `<td title="${esc(d.lastError ?? "")}">${d.lastResponseCode === null ? `<span class="muted">${esc(d.lastError ?? "—")}</span>` : esc(d.lastResponseCode)}</td>` +
          `<td>${esc(d.attempts)}</td><td class="latency muted">${d.attempts === 0 ? "—" : ""}</td>` +
          `<td>${d.status === "pending" ? time(d.nextAttemptAt) : '<span class="muted">—</span>'}</td><td>${time(d.createdAt)}</td>` +
          `<td class="mono muted">${esc(d.id)}</td>` +
          `<td>${canWrite() ? `<button type="button" data-redeliver="${esc(d.id)}">Redeliver</button>` : ""}</td></tr>`,
      )
      .join("") +
    "</tbody></table>"
  );
}

/** Fills the latency cells from the attempt logs (the last attempt's latency; all on hover). */
async function fillLatencies(root, deliveries) {
  const withAttempts = deliveries.filter((d) => d.attempts > 0).slice(0, LATENCY_LOOKUPS);
  await Promise.all(
    withAttempts.map(async (d) => {
      const detail = await api(`/v1/webhooks/deliveries/${encodeURIComponent(d.id)}`).catch(() => null);
      const cell = root.querySelector(`tr[data-delivery="${CSS.escape(d.id)}"] .latency`);
      const last = detail?.attemptLog.at(-1);
      if (!cell || !last) return;
      cell.textContent = duration(last.latencyMs);
      cell.title = detail.attemptLog
        .map((a) => `#${a.attempt} ${a.responseCode ?? a.error ?? "no answer"} in ${duration(a.latencyMs)}`)
        .join("\n");
    }),
  );
}

/** Renders the webhooks page. */
export async function renderWebhooks(root) {
  const [endpoints, subscriptions, deliveries] = await Promise.all([
    api("/v1/webhooks/endpoints"),
    api("/v1/webhooks/subscriptions"),
    api(`/v1/webhooks/deliveries?limit=${DELIVERY_LIMIT}`),
  ]);
  root.innerHTML =
    "<h1>Webhooks</h1>" +
    '<h2>Incoming</h2><p class="muted">A signed POST to the URL starts a run.</p>' +
    endpointsTable(endpoints.items) +
    '<h2>Outgoing subscriptions</h2><p class="muted">Run events POSTed to a URL, signed with Standard Webhooks, retried with backoff for up to 24 h.</p>' +
    subscriptionsTable(subscriptions.items) +
    `<h2>Delivery log</h2><p class="muted">Newest first (the latest ${DELIVERY_LIMIT}).</p>` +
    deliveriesTable(deliveries.items);
  void fillLatencies(root, deliveries.items);
  root.querySelector("#webhook-deliveries")?.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-redeliver]");
    if (!button) return;
    const id = button.dataset.redeliver;
    button.disabled = true;
    try {
      await api(`/v1/webhooks/deliveries/${encodeURIComponent(id)}/redeliver`, { method: "POST" });
      flash(`Delivery ${id} queued again`);
      await renderWebhooks(root);
    } catch (error) {
      flash(error);
      button.disabled = false;
    }
  });
}
