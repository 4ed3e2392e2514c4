// Events: the runs waiting for one (event name and key), the recent events (delivered or still
// buffered for a future waiter), and a form to send an event.
import { api } from "../api.js";
import { chip, empty, errorBox, esc, time } from "../format.js";
import { flash, href } from "../nav.js";
import { canWrite } from "../state.js";

/** Renders the events page. */
export async function renderEvents(root, _params, query) {
  const buffered = query?.get("buffered") === "true";
  const recent = api(`/v1/events?limit=100${buffered ? "&buffered=true" : ""}`);
  const waiting = await api("/v1/runs?status=waiting&limit=100");
  const details = await Promise.all(waiting.items.map((r) => api(`/v1/runs/${encodeURIComponent(r.id)}`)));
  const waits = details.flatMap((run) =>
    run.steps.filter((s) => s.type === "event" && s.status === "waiting").map((step) => ({ run, step })),
  );
  root.innerHTML =
    "<h1>Events</h1>" +
    (canWrite()
      ? '<form id="send-event" class="card"><h2>Send an event</h2><div class="row">' +
        '<input name="name" placeholder="event name" aria-label="Event name" required>' +
        '<input name="key" placeholder="key (optional)" aria-label="Correlation key"></div>' +
        '<textarea name="payload" aria-label="Payload (JSON)">{}</textarea><div class="row"><button class="primary" type="submit">Send</button></div><div class="form-error"></div></form>'
      : "") +
    "<h2>Runs waiting for an event</h2>" +
    (waits.length === 0
      ? empty(
          "No run waits for an event — a flow's <code>wait_for_event</code> node or <code>ctx.waitForEvent</code> parks one here.",
        )
      : '<table id="waits"><thead><tr><th>run</th><th>status</th><th>event</th><th>key</th><th>since</th><th>times out</th></tr></thead><tbody>' +
        waits
          .map(({ run, step }) => {
            const link = href(`/runs/${encodeURIComponent(run.id)}`);
            return `<tr data-href="${esc(link)}"><td><a data-nav href="${esc(link)}">${esc(run.name)}</a> <span class="muted mono">${esc(run.id)}</span></td><td>${chip(run.status)}</td><td><code>${esc(step.eventName)}</code></td><td><code>${esc(step.eventKey ?? "")}</code></td><td>${time(step.startedAt)}</td><td>${time(step.wakeAt)}</td></tr>`;
          })
          .join("") +
        "</tbody></table>") +
    recentEvents(await recent, buffered);
  const form = root.querySelector("#send-event");
  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    try {
      const payload = JSON.parse(String(data.get("payload") || "null"));
      const key = String(data.get("key") ?? "").trim();
      const sent = await api("/v1/events", {
        method: "POST",
        body: { name: String(data.get("name")).trim(), ...(key ? { key } : {}), payload },
      });
      flash(
        sent.deliveredTo
          ? `Event ${sent.eventId} delivered to ${sent.deliveredTo}`
          : `Event ${sent.eventId} buffered: no run waited for it`,
      );
      await renderEvents(root, _params, query);
    } catch (error) {
      form.querySelector(".form-error").innerHTML = errorBox(
        error instanceof SyntaxError
          ? { code: "INVALID_JSON", message: `The payload is not JSON: ${error.message}` }
          : error,
      );
    }
  });
}

function recentEvents(page, buffered) {
  const tabs =
    `<p class="row"><a data-nav href="${esc(href("/events"))}" ${buffered ? "" : 'aria-current="page"'}>all</a>` +
    `<a data-nav href="${esc(href("/events", { buffered: "true" }))}" ${buffered ? 'aria-current="page"' : ""}>buffered only</a></p>`;
  if (page.items.length === 0) {
    return `<h2>Recent events</h2>${tabs}${empty(buffered ? "No event waits for a run." : "No events yet — send one above or with <code>kiln events send NAME</code>.")}`;
  }
  const rows = page.items
    .map((e) => {
      const to = e.deliveredTo
        ? `<a data-nav href="${esc(href(`/runs/${encodeURIComponent(e.deliveredTo)}`))}">${esc(e.deliveredTo)}</a>`
        : `<span class="chip s-queued">buffered</span> <span class="muted">expires ${time(e.expiresAt)}</span>`;
      const payload = JSON.stringify(e.payload);
      return `<tr data-event-id="${esc(e.id)}"><td><code>${esc(e.name)}</code></td><td><code>${esc(e.key ?? "")}</code></td><td>${time(e.createdAt)}</td><td>${to}</td><td class="mono muted" title="${esc(payload)}">${esc(payload.length > 80 ? `${payload.slice(0, 80)}…` : payload)}</td></tr>`;
    })
    .join("");
  return (
    `<h2>Recent events</h2>${tabs}` +
    `<table id="events"><thead><tr><th>event</th><th>key</th><th>sent</th><th>delivered to</th><th>payload</th></tr></thead><tbody>${rows}</tbody></table>`
  );
}
